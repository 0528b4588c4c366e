"""What the docker runtime emulates of Kubernetes and Cilium: only the kinds a lab needs, said clearly otherwise."""
