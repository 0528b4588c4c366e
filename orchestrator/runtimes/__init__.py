"""Runtimes: where a lab runs. `kind` is the real lab; `docker` is the same lab without Kubernetes."""
