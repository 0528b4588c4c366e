"""Cilium's L7 proxy for the docker runtime: a CCEC run by a real Envoy sharing the redirected pod's network
namespace, the CNP's listener redirect as an iptables REDIRECT in that namespace (exempting Envoy's uid,
as Cilium's transparent proxy does), and the flows Hubble would report, read from what Envoy counted.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import yaml

from orchestrator.kube import cilium
from orchestrator.network.emulated import ccec as envoy_config
from orchestrator.errors import BadInput, PermanentFailure, RuntimeFailure
from orchestrator.providers.docker import DockerEngine, FileSpec
from orchestrator.providers.process import ExecResult
from orchestrator.network.base import Flows
from orchestrator.kube.cilium import selected_pods

ENVOY_UID = 101
ENVOY_ADMIN_PORT = 9901
LISTENER_PORT_BASE = 15000
REDIRECT_CHAIN = "LAB_REDIRECT"
SECRET_DIR = "/etc/envoy/secrets"
PROXY_ROLE = "envoy"
FLOWS_SOURCE = "Envoy's connection counters in the redirected pod (docker runtime stand-in for Hubble)"


# Envoy's upstream TLS counters that mean "the proxy refused the server's certificate", and what each says.
TLS_REFUSALS = {
    "ssl.fail_verify_error": "its certificate did not verify against the trusted CA",
    "ssl.fail_verify_san": "its certificate's subject alternative names did not match",
    "ssl.fail_verify_cert_hash": "its certificate's hash did not match",
    "ssl.fail_verify_no_cert": "it presented no certificate",
    "ssl.connection_error": "the TLS handshake failed",
}


@dataclass(frozen=True)
class Sample:
    at: float
    proxied: dict[int, int]  # per proxy port: connections the listener accepted (redirected traffic reached the proxy)
    forwarded: dict[str, int]  # per cluster: upstream connections the proxy made (TLS ones once the handshake succeeded)
    tls_refusals: tuple[tuple[str, int], ...] = ()  # (counter, value) per TLS_REFUSALS counter, summed over clusters


@dataclass(frozen=True)
class Route:
    """One redirect as the datapath holds it: egress to cidrs:port goes to proxy_port, whose listener sends
    to clusters. Hubble's filters (--to-ip, --to-port) pick routes, as they pick flows."""

    cidrs: tuple[str, ...]
    port: int
    proxy_port: int
    clusters: tuple[str, ...]

    @classmethod
    def from_record(cls, record: dict) -> "Route":
        """Back from the instance's record (JSON: tuples came back as lists)."""
        return cls(tuple(record["cidrs"]), record["port"], record["proxy_port"], tuple(record["clusters"]))

    def matches(self, to_ip: str | None, to_port: int | None) -> bool:
        if to_port is not None and int(to_port) != self.port:
            return False
        return to_ip is None or cilium.covers(self.cidrs, to_ip)


def _clusters_of(node) -> list[str]:
    """The clusters a listener sends to (tcp_proxy's `cluster`, a route's `cluster`)."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "cluster" and isinstance(v, str)]
        return found + [c for k, v in node.items() for c in _clusters_of(v)]
    if isinstance(node, list):
        return [c for item in node for c in _clusters_of(item)]
    return []


def routes(cnp: dict, ccecs: list[dict], docs: list[dict]) -> list[Route]:
    ports = listener_ports(docs)
    listeners = {r["name"]: r for c in ccecs for r in c["spec"].get("resources", []) if r.get("@type") == cilium.LISTENER_TYPE}
    return [Route(rule.cidrs, rule.port, ports[rule.listener], tuple(_clusters_of(listeners.get(rule.listener, {}))))
            for rule in cilium.redirects(cnp)]


def listener_ports(docs: list[dict]) -> dict[str, int]:
    """Stand-in for the proxy ports Cilium allocates: one per listener of every CCEC, in render order."""
    ports, index = {}, 0
    for doc in docs:
        if doc.get("kind") == "CiliumClusterwideEnvoyConfig":
            for resource in doc["spec"].get("resources", []):
                if resource.get("@type") == cilium.LISTENER_TYPE:
                    ports[resource["name"]] = LISTENER_PORT_BASE + index
                    index += 1
    return ports


def redirected_pods(docs: list[dict]) -> list[dict]:
    """The pods a CNP with a listener redirect selects."""
    pods = [d for d in docs if d.get("kind") == "Pod"]
    selected = []
    for cnp in (d for d in docs if d.get("kind") == "CiliumNetworkPolicy"):
        if _redirects_or_none(cnp):
            selected += [p for p in selected_pods(cnp, pods) if p not in selected]
    return selected


def _redirects_or_none(cnp: dict) -> list:
    try:
        return cilium.redirects(cnp)
    except (BadInput, ValueError, KeyError, TypeError, AttributeError):
        return []


def proxy_problems(docs: list[dict]) -> list[str]:
    """What of the lab's Cilium objects this emulation cannot run, before anything is created."""
    problems = []
    secrets = envoy_config.sds_secrets([d for d in docs if d.get("kind") == "Secret"])
    ports = listener_ports(docs)
    for doc in docs:
        try:
            if doc.get("kind") == "CiliumNetworkPolicy":
                for rule in cilium.redirects(doc):
                    if rule.listener not in ports:
                        problems.append(f"CiliumNetworkPolicy {rule.policy}: listener {rule.listener} is not defined by {rule.config_name}")
            elif doc.get("kind") == "CiliumClusterwideEnvoyConfig":
                envoy_config.envoy_bootstrap(doc, ports, secrets, SECRET_DIR, ENVOY_ADMIN_PORT)
        except BadInput as exc:
            problems.append(exc.message)
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # malformed: the API server refuses it at apply, naming the field
    if any(d.get("kind") == "CiliumNetworkPolicy" for d in docs) and len(redirected_pods(docs)) > 1:
        names = ", ".join(p["metadata"]["name"] for p in redirected_pods(docs))
        problems.append(f"CiliumNetworkPolicy: the docker runtime emulates a listener redirect for one pod; the policies select {names}")
    return problems


def ensure_datapath(engine: DockerEngine, name: str, pod_container: str, labels: dict[str, str], image: str | None = None) -> None:
    """Cilium's datapath for a pod: a container in the pod's network namespace with NET_ADMIN (the pod itself gets
    none), from `image` or the pod's own, where the pod's rules are installed (it must carry iptables)."""
    existing = engine.container(name)
    if existing is not None and existing.status == "running":
        return
    if existing is not None:
        engine.remove(existing, labels)
    pod = engine.container(pod_container)
    if pod is None:
        raise RuntimeFailure(f"the pod's container {pod_container} does not exist")
    engine.run(name, image or (pod.attrs.get("Config") or {}).get("Image"), ["sleep", "infinity"], labels={**labels, "lab.dev/role": "datapath"},
               network_mode=f"container:{pod_container}", cap_add=["NET_ADMIN"], entrypoint=[])


class CiliumProxy:
    def __init__(self, engine: DockerEngine, container_name: str, labels: dict[str, str], image: str | None):
        self.engine = engine
        self.name = container_name
        self.labels = labels
        self.image = image
        self.samples: list[Sample] = []

    def run_envoy(self, ccec: dict, docs: list[dict], pod_container: str) -> None:
        if not self.image:
            raise BadInput("the docker runtime runs CiliumClusterwideEnvoyConfigs in Envoy: name its image in imageRoles.proxy")
        secrets = envoy_config.sds_secrets([d for d in docs if d.get("kind") == "Secret"])
        bootstrap = envoy_config.envoy_bootstrap(ccec, listener_ports(docs), secrets, SECRET_DIR, ENVOY_ADMIN_PORT)
        files = {"/etc/envoy/envoy.yaml": FileSpec(yaml.safe_dump(bootstrap, sort_keys=False).encode(), 0o444)}
        for path, content in envoy_config.secret_files(secrets, SECRET_DIR).items():
            files[path] = FileSpec(content, 0o400, ENVOY_UID, ENVOY_UID)  # readable by Envoy's uid only
        existing = self.engine.container(self.name)
        if existing is not None:
            self.engine.remove(existing, self.labels)  # a changed config means a new Envoy, as Cilium would reload it
        self.engine.run(
            self.name, self.image, ["envoy", "-c", "/etc/envoy/envoy.yaml", "--disable-hot-restart", "-l", "info"],
            labels={**self.labels, "lab.dev/role": PROXY_ROLE}, files=files, network_mode=f"container:{pod_container}", user=str(ENVOY_UID),
        )
        self.samples = []
        self._wait_ready(pod_container, timeout=30)

    def _wait_ready(self, pod_container: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.engine.wait_running(self.name, 5)
            result = self.engine.exec(pod_container, ["curl", "-s", "--max-time", "2", f"http://127.0.0.1:{ENVOY_ADMIN_PORT}/ready"])
            if result.returncode == 0 and result.stdout.strip() == "LIVE":
                return
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"Envoy ({self.name}) did not become ready within {timeout:.0f}s: {self.engine.logs(self.name)[-2000:]}")
            time.sleep(0.05)  # Envoy is ready a fraction of a second after it starts

    @property
    def datapath(self) -> str:
        return self.name.replace("-envoy", "-datapath")

    def ensure_datapath(self, pod_container: str) -> None:
        ensure_datapath(self.engine, self.datapath, pod_container, self.labels)

    def _iptables(self, pod_container: str, *args: str, check: bool = True) -> ExecResult:
        self.ensure_datapath(pod_container)
        result = self.engine.exec(self.datapath, ["iptables", "-w", "5", *args])
        if check and result.returncode != 0:
            raise RuntimeFailure(f"iptables {' '.join(args)} failed in the datapath of {pod_container} "
                                 f"(the pod's image must carry iptables): {(result.stderr or result.stdout).strip()[:300]}")
        return result

    def redirect(self, cnp: dict, docs: list[dict], pod_container: str) -> None:
        """The policy's redirects as one iptables-restore of the nat chain (declaring the chain flushes it), and
        the chain hooked into OUTPUT once: one exec in the datapath, not one per rule."""
        ports = listener_ports(docs)
        table = ["*nat", f":{REDIRECT_CHAIN} - [0:0]"]
        for rule in cilium.redirects(cnp):
            for cidr in rule.cidrs:
                table.append(f"-A {REDIRECT_CHAIN} -p {rule.protocol.lower()} -d {cidr} --dport {rule.port} "
                             f"-m owner ! --uid-owner {ENVOY_UID} -j REDIRECT --to-ports {ports[rule.listener]}")
        table.append("COMMIT")
        script = ('printf "%s\\n" "$1" | iptables-restore -w 5 --noflush && '
                  f'{{ iptables -w 5 -t nat -C OUTPUT -j {REDIRECT_CHAIN} 2>/dev/null || iptables -w 5 -t nat -A OUTPUT -j {REDIRECT_CHAIN}; }}')
        self.ensure_datapath(pod_container)
        result = self.engine.exec(self.datapath, ["sh", "-c", script, "redirect", "\n".join(table)])
        if result.returncode != 0:
            raise RuntimeFailure(f"iptables-restore of the redirect failed in the datapath of {pod_container} "
                                 f"(the pod's image must carry iptables): {(result.stderr or result.stdout).strip()[:300]}")

    def clear(self) -> None:
        """The redirect rules out of the pod's namespace (they outlive the datapath container that set them)."""
        container = self.engine.container(self.datapath)
        if container is not None and container.status == "running":
            self.engine.exec(self.datapath, ["iptables", "-w", "5", "-t", "nat", "-F", REDIRECT_CHAIN])

    def rules(self, pod_container: str) -> str:
        result = self._iptables(pod_container, "-t", "nat", "-S", check=False)
        return result.stdout + result.stderr

    def running(self) -> bool:
        container = self.engine.container(self.name)
        return container is not None and container.status == "running"

    def sample(self, pod_container: str) -> Sample | None:
        """Envoy's counters now: connections its listeners accepted, upstream connections it made."""
        if not self.running():
            return None
        result = self.engine.exec(pod_container, ["curl", "-s", "--max-time", "2", f"http://127.0.0.1:{ENVOY_ADMIN_PORT}/stats"])
        if result.returncode != 0:
            return None
        stats: dict[str, int] = {}
        for line in result.stdout.splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                stats[name] = int(value)
        proxied = {}
        for key, value in stats.items():
            match = re.fullmatch(r"listener\.[0-9a-f.:\[\]]+_(\d+)\.downstream_cx_total", key)  # not per worker
            if match:
                proxied[int(match.group(1))] = value
        forwarded = {}
        for key in (k for k in stats if re.fullmatch(r"cluster\.[^.]+\.upstream_cx_total", k)):
            cluster = key[: -len(".upstream_cx_total")]
            if f"{cluster}.ssl.handshake" in stats:  # a TLS upstream: forwarded once the handshake succeeded
                forwarded[cluster[len("cluster."):]] = stats[f"{cluster}.ssl.handshake"]
            else:
                forwarded[cluster[len("cluster."):]] = stats[key] - stats.get(f"{cluster}.upstream_cx_connect_fail", 0)
        refusals = tuple((name, sum(v for k, v in stats.items() if k.startswith("cluster.") and k.endswith("." + name))) for name in TLS_REFUSALS)
        sample = Sample(time.time(), proxied, forwarded, refusals)
        self.samples.append(sample)
        return sample

    def sampled_since(self, moment: float) -> bool:
        """Whether a sample was taken at or after `moment` (a wall-clock time, as Sample.at)."""
        return any(s.at >= moment for s in reversed(self.samples))

    def flows(self, pod_container: str, since: float, selected: list[Route]) -> Flows:
        """to-proxy flows in [since, now] through the selected routes: counted from the first sample taken in
        the window (before the window's traffic, since every exec in the redirected pod samples first) to a
        sample taken now."""
        now = self.sample(pod_container)
        if now is None:  # waiting will not bring it back: end the check now, naming the broken part
            raise PermanentFailure(f"Envoy ({self.name}) is not running or not answering: no traffic can reach the proxy")
        start = next((s for s in self.samples if s.at >= since), now)
        proxy_ports = {r.proxy_port for r in selected}
        clusters = {c for r in selected for c in r.clusters}
        proxied = sum(now.proxied.get(p, 0) - start.proxied.get(p, 0) for p in proxy_ports)
        forwarded = max(sum(now.forwarded.get(c, 0) - start.forwarded.get(c, 0) for c in clusters), 0)
        verdicts = ("FORWARDED",) * min(proxied, forwarded) + ("DROPPED",) * max(proxied - forwarded, 0)
        output = (f"Envoy counters since {time.strftime('%H:%M:%S', time.localtime(start.at))}, proxy port(s) "
                  f"{', '.join(map(str, sorted(proxy_ports))) or 'none'}: {proxied} connection(s) redirected to the proxy, "
                  f"{forwarded} forwarded upstream")
        return Flows(proxied, FLOWS_SOURCE, verdicts, output=output)

    def explain(self, pod_container: str, since: float) -> str:
        """Why traffic through the proxy failed, as far as Envoy counted it since `since`: a refused upstream
        certificate is otherwise only a reset connection at the client."""
        now = self.sample(pod_container)
        if now is None:
            return f"the proxy (Envoy, {self.name}) is not running"
        start = next((s for s in self.samples if s.at >= since), now)
        before = dict(start.tls_refusals)
        reasons = [f"{TLS_REFUSALS[name]} ({name} +{value - before.get(name, 0)})"
                   for name, value in now.tls_refusals if value > before.get(name, 0)]
        return ("the proxy refused the upstream's certificate: " + "; ".join(reasons)) if reasons else ""
