"""Cilium's objects as data: what a CiliumNetworkPolicy says (its listener redirects, its ingress rules, the pods
it selects) and what a CiliumClusterwideEnvoyConfig holds. The emulation enforces them; the guide draws them;
neither parses them on its own."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from orchestrator.errors import BadInput
from orchestrator.kube.objects import labels_match

LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"

INGRESS_KEYS = {"fromEndpoints", "toPorts"}
PORT_RULE_KEYS = {"ports", "rules"}
HTTP_KEYS = {"method", "path"}


@dataclass(frozen=True)
class Redirect:
    """Egress to cidrs:port redirected to a listener of an envoy config (a CNP `listener` rule)."""

    policy: str
    cidrs: tuple[str, ...]
    port: int
    protocol: str
    config_kind: str
    config_name: str
    listener: str


def covers(cidrs: tuple[str, ...], address: str) -> bool:
    """A policy's toCIDR list holds the address (ValueError when it is not an IP address)."""
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def redirects(cnp: dict) -> list[Redirect]:
    name = f"{cnp['metadata'].get('namespace', '')}/{cnp['metadata']['name']}"
    found = []
    for i, rule in enumerate(cnp.get("spec", {}).get("egress", [])):
        for port_rule in rule.get("toPorts", []):
            listener = port_rule.get("listener")
            if not listener:
                continue
            config = listener.get("envoyConfig", {})
            if config.get("kind") != "CiliumClusterwideEnvoyConfig":
                raise BadInput(f"CiliumNetworkPolicy {name}: egress.{i}: listener.envoyConfig.kind must be CiliumClusterwideEnvoyConfig")
            if "rules" in port_rule:
                raise BadInput(f"CiliumNetworkPolicy {name}: egress.{i}: a listener redirect cannot be combined with L7 rules")
            cidrs = tuple(rule.get("toCIDR", []))
            if not cidrs:
                raise BadInput(f"CiliumNetworkPolicy {name}: egress.{i}: the docker runtime emulates listener redirects to toCIDR only")
            for cidr in cidrs:
                ipaddress.ip_network(cidr)
            for port in port_rule.get("ports", []):
                found.append(Redirect(name, cidrs, int(port["port"]), port.get("protocol", "TCP"), config["kind"], config["name"], listener["name"]))
    return found


def selected_pods(cnp: dict, pods: list[dict]) -> list[dict]:
    """The pods a CNP applies to: its namespace, its endpointSelector's matchLabels (none for a malformed policy,
    which is the API server's to refuse, with its own words)."""
    endpoint_selector = (cnp.get("spec") or {}).get("endpointSelector") if isinstance(cnp.get("spec"), dict) else None
    if not isinstance(endpoint_selector, dict):
        return []
    namespace = cnp["metadata"].get("namespace", "default")
    selector = ",".join(f"{k}={v}" for k, v in (endpoint_selector.get("matchLabels") or {}).items())
    return [p for p in pods if p["metadata"].get("namespace", "default") == namespace
            and labels_match(p["metadata"].get("labels") or {}, selector)]


@dataclass(frozen=True)
class HttpRule:
    method: str | None
    path: str | None


@dataclass(frozen=True)
class Allow:
    """Sources (label selectors, in the policy's namespace) allowed to reach ports, optionally only by HTTP rules."""

    sources: tuple[str, ...]  # label selectors; () is every pod
    ports: tuple[int, ...]  # () is every port
    http: tuple[HttpRule, ...] = ()


@dataclass
class IngressPolicy:
    name: str
    namespace: str
    selector: str
    allows: list[Allow] = field(default_factory=list)


def _selector(match: dict, where: str) -> str:
    extra = set(match) - {"matchLabels"}
    if extra:
        raise BadInput(f"{where}: {', '.join(sorted(extra))} is not emulated by the docker runtime (matchLabels only)")
    return ",".join(f"{k.removeprefix('k8s:')}={v}" for k, v in (match.get("matchLabels") or {}).items())


def ingress_policy(cnp: dict) -> IngressPolicy | None:
    """The ingress part of a CNP, or None when it has none; BadInput naming the field it cannot emulate."""
    meta, spec = cnp["metadata"], cnp.get("spec") or {}
    name = f"CiliumNetworkPolicy {meta.get('namespace', 'default')}/{meta['name']}"
    for key in ("ingressDeny", "egressDeny", "specs", "nodeSelector"):
        if spec.get(key):
            raise BadInput(f"{name}: spec.{key} is not emulated by the docker runtime")
    if not spec.get("ingress"):
        return None
    policy = IngressPolicy(meta["name"], meta.get("namespace", "default"), _selector(spec.get("endpointSelector") or {}, f"{name}: spec.endpointSelector"))
    for i, rule in enumerate(spec["ingress"]):
        where = f"{name}: spec.ingress[{i}]"
        extra = set(rule) - INGRESS_KEYS
        if extra:
            raise BadInput(f"{where}: {', '.join(sorted(extra))} is not emulated by the docker runtime (fromEndpoints and toPorts are)")
        sources = tuple(_selector(m, f"{where}.fromEndpoints[{j}]") for j, m in enumerate(rule.get("fromEndpoints") or []))
        for j, port_rule in enumerate(rule.get("toPorts") or [{}]):
            pwhere = f"{where}.toPorts[{j}]"
            extra = set(port_rule) - PORT_RULE_KEYS
            if extra:
                raise BadInput(f"{pwhere}: {', '.join(sorted(extra))} is not emulated by the docker runtime")
            ports = []
            for k, port in enumerate(port_rule.get("ports") or []):
                if str(port.get("protocol", "TCP")).upper() not in ("TCP", "ANY") or port.get("endPort") or not str(port.get("port", "")).isdigit():
                    raise BadInput(f"{pwhere}.ports[{k}]: the docker runtime emulates numbered TCP ports only")
                ports.append(int(port["port"]))
            rules = port_rule.get("rules") or {}
            if set(rules) - {"http"}:
                raise BadInput(f"{pwhere}.rules: {', '.join(sorted(set(rules) - {'http'}))} rules are not emulated by the docker runtime (http is)")
            http = []
            for k, item in enumerate(rules.get("http") or []):
                if set(item) - HTTP_KEYS:
                    raise BadInput(f"{pwhere}.rules.http[{k}]: {', '.join(sorted(set(item) - HTTP_KEYS))} is not emulated (method and path are)")
                http.append(HttpRule(item.get("method"), item.get("path")))
            if http and not ports:
                raise BadInput(f"{pwhere}: HTTP rules need ports")
            policy.allows.append(Allow(sources, tuple(ports), tuple(http)))
    return policy


def pod_ip(pod: dict) -> str | None:
    return (pod.get("status") or {}).get("podIP")


def in_namespace(pods: list[dict], namespace: str, selector: str) -> list[dict]:
    return [p for p in pods if p["metadata"].get("namespace", "default") == namespace and labels_match(p["metadata"].get("labels") or {}, selector)]
