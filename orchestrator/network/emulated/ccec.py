"""Cilium semantics outside Kubernetes: a CCEC run by a standalone Envoy, a CNP listener redirect as a rule,
and cilium-secrets served to Envoy under the same SDS names.

The CCEC's resources go into Envoy unchanged; only what Cilium adds itself is added here (the listener's
address, the secrets that Cilium's SDS would serve), following Cilium's rules: a Secret with tls.crt and
tls.key is a TLS certificate, a Secret with just ca.crt is a validation context.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import BadInput
from orchestrator.kube.cilium import CLUSTER_TYPE, LISTENER_TYPE


@dataclass(frozen=True)
class SdsSecret:
    name: str  # namespace/name, as the CCEC refers to it
    kind: str  # tls_certificate | validation_context
    files: dict[str, bytes]


def sds_secrets(secrets: list[dict]) -> dict[str, SdsSecret]:
    """Every Secret as Cilium's SDS would serve it, by `namespace/name` (how a CCEC refers to it)."""
    served = {}
    for secret in secrets:
        meta = secret["metadata"]
        namespace = meta.get("namespace", "default")
        data = {k: base64.b64decode(v) for k, v in secret.get("data", {}).items()}
        data.update({k: v.encode() for k, v in secret.get("stringData", {}).items()})
        name = f"{namespace}/{meta['name']}"
        if "tls.crt" in data and "tls.key" in data:
            served[name] = SdsSecret(name, "tls_certificate", {"tls.crt": data["tls.crt"], "tls.key": data["tls.key"]})
        elif set(data) == {"ca.crt"}:
            served[name] = SdsSecret(name, "validation_context", {"ca.crt": data["ca.crt"]})
    return served


def _sds_names(node: Any) -> list[str]:
    """Every SDS secret name a resource refers to."""
    names = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "tls_certificate_sds_secret_configs":
                names += [c["name"] for c in value]
            elif key == "validation_context_sds_secret_config":
                names.append(value["name"])
            else:
                names += _sds_names(value)
            if key.endswith("sds_secret_configs") or key.endswith("sds_secret_config"):
                for config in value if isinstance(value, list) else [value]:
                    if "sds_config" in config:
                        raise BadInput(f"SDS secret {config['name']}: do not set sds_config, Cilium fills it in")
    elif isinstance(node, list):
        for item in node:
            names += _sds_names(item)
    return names


def envoy_bootstrap(
    ccec: dict,
    listener_ports: dict[str, int],
    secrets: dict[str, SdsSecret],
    secret_dir: str,
    admin_port: int,
    listen_address: str = "0.0.0.0",
) -> dict:
    """A static Envoy bootstrap running the CCEC's resources unchanged, plus what Cilium would supply."""
    name = ccec["metadata"]["name"]
    listeners, clusters = [], []
    for resource in ccec.get("spec", {}).get("resources", []):
        kind = resource.get("@type")
        if kind == LISTENER_TYPE:
            if "address" in resource:
                raise BadInput(f"CiliumClusterwideEnvoyConfig {name}: listener {resource['name']} must not set an address (Cilium allocates the proxy port)")
            if resource["name"] not in listener_ports:
                raise BadInput(f"CiliumClusterwideEnvoyConfig {name}: listener {resource['name']} is not referenced by any CiliumNetworkPolicy")
            listener = {k: v for k, v in resource.items() if k != "@type"}
            listener["address"] = {"socket_address": {"address": listen_address, "port_value": listener_ports[resource["name"]]}}
            listeners.append(listener)
        elif kind == CLUSTER_TYPE:
            clusters.append({k: v for k, v in resource.items() if k != "@type"})
        else:
            raise BadInput(f"CiliumClusterwideEnvoyConfig {name}: resource type {kind} is not emulated by the docker runtime")
    static_secrets = []
    for sds_name in sorted(set(_sds_names(listeners + clusters))):
        secret = secrets.get(sds_name)
        if secret is None:
            raise BadInput(f"CiliumClusterwideEnvoyConfig {name}: refers to secret {sds_name}, which no rendered Secret provides")
        base = f"{secret_dir}/{sds_name.replace('/', '__')}"
        if secret.kind == "tls_certificate":
            body = {"tls_certificate": {"certificate_chain": {"filename": f"{base}/tls.crt"}, "private_key": {"filename": f"{base}/tls.key"}}}
        else:
            body = {"validation_context": {"trusted_ca": {"filename": f"{base}/ca.crt"}}}
        static_secrets.append({"name": sds_name, **body})
    return {
        "node": {"id": f"lab-{name}", "cluster": "lab"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {"listeners": listeners, "clusters": clusters, "secrets": static_secrets},
    }


def secret_files(secrets: dict[str, SdsSecret], secret_dir: str) -> dict[str, bytes]:
    """Files to place under secret_dir, matching the paths envoy_bootstrap refers to."""
    files = {}
    for secret in secrets.values():
        for key, content in secret.files.items():
            files[f"{secret_dir}/{secret.name.replace('/', '__')}/{key}"] = content
    return files
