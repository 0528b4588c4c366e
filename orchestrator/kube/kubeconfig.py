"""Kubeconfigs: one written for a cluster and a user's certificate, and the cluster read back from one."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml


def kubeconfig(cluster: str, server: str, ca: bytes, user: str, cert: bytes, key: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": f"{user}@{cluster}",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
        "contexts": [{"name": f"{user}@{cluster}", "context": {"cluster": cluster, "user": user}}],
    }, sort_keys=False)


def admin_cluster(kubeconfig: Path) -> tuple[str, str, bytes]:
    """The current context's cluster: its name, server and CA (the cluster CA)."""
    from orchestrator.errors import RuntimeFailure
    from orchestrator.files import MAX_RECORD_BYTES, read_bounded

    try:
        config = yaml.safe_load(read_bounded(kubeconfig, "kubeconfig", MAX_RECORD_BYTES))
        contexts = {c["name"]: c["context"] for c in config.get("contexts", [])}
        cluster_name = contexts[config["current-context"]]["cluster"]
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == cluster_name)
        return cluster_name, cluster["server"], base64.b64decode(cluster["certificate-authority-data"])
    except (yaml.YAMLError, KeyError, TypeError, AttributeError, StopIteration, ValueError):
        raise RuntimeFailure(f"{kubeconfig}: not a kubeconfig with a current context and its cluster's CA") from None
