"""One module per external system: process runner, docker (SDK), compose CLI, kind, helm, Kubernetes API."""
