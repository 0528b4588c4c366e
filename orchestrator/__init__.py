"""lab: reproducible Kubernetes networking and TLS labs."""

__version__ = "0.1.0"
