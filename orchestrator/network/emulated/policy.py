"""CiliumNetworkPolicy ingress enforcement for the docker runtime, from the objects the API server holds.

What Cilium does for a pod an ingress policy selects, done in that pod's network namespace by a datapath
container (NET_ADMIN, the pod's own image; the pod gets no capability):
- L3/L4: ingress is denied unless a rule allows it; `fromEndpoints` label selectors are resolved against the
  pods the API server knows (their IPs), `toPorts` name TCP ports. Established replies and loopback pass.
- L7: allowed sources on a port with `rules.http` are redirected (iptables REDIRECT) to a real Envoy in the
  same namespace whose routes let exactly the rules' method and path regex through to the pod and answer
  everything else 403 `Access denied`, as Cilium's proxy does.
- Hubble stand-in: every source pod has its own DROP rule, so the rule's packet counter is the drops seen
  from that pod; Envoy's counters give the L7 requests forwarded and denied. Rules and Envoy are replaced
  when a policy changes, so counts start with the stage that applied it.

Anything else a CNP can say (egress rules besides the listener redirect, fromCIDR, fromEntities,
matchExpressions, deny rules, other L7 protocols, header matches) is refused here naming the field.
"""

from __future__ import annotations

import json
import re
import time

from orchestrator.errors import BadInput, RuntimeFailure
from orchestrator.providers.docker import DockerEngine, FileSpec, docker_time
from orchestrator.kube.cilium import IngressPolicy, in_namespace, pod_ip
from orchestrator.network.emulated.proxy import ENVOY_UID, ensure_datapath

CHAIN = "LAB-INGRESS"
L7_CHAIN = "LAB-INGRESS-L7"
ENVOY_PORT = 15080  # the L7 listener in the pod's namespace
ENVOY_ADMIN = 15081
ACCESS_DENIED = "Access denied\r\n"  # the body Cilium's Envoy answers a request the policy denies
STAT_PREFIX = "cilium_l7"
POLICY_FLOWS_SOURCE = "the policy emulation's drop counters and Envoy's access log (docker runtime stand-in for Hubble)"


def iptables_script(policies: list[IngressPolicy], pods: list[dict]) -> str:
    """The filter and nat tables for one selected pod, as one iptables-restore input (declaring a chain
    flushes it): allowed sources accepted (or redirected to Envoy for L7 ports), one DROP per known pod."""
    filter_rules = [f"-A {CHAIN} -i lo -j ACCEPT", f"-A {CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"]
    nat_rules = []
    for policy in policies:
        for allow in policy.allows:
            sources = [pod_ip(p) for s in (allow.sources or ("",)) for p in in_namespace(pods, policy.namespace, s) if pod_ip(p)]
            for ip in sorted(set(sources)):
                for port in allow.ports or (None,):
                    match = f"-s {ip}/32 -p tcp" + (f" --dport {port}" if port else "")
                    filter_rules.append(f"-A {CHAIN} {match} -j ACCEPT")
                    if allow.http:  # NAT runs first: what reaches INPUT is addressed to Envoy's port
                        nat_rules.append(f"-A {L7_CHAIN} {match} -j REDIRECT --to-ports {ENVOY_PORT}")
                        filter_rules.append(f"-A {CHAIN} -s {ip}/32 -p tcp --dport {ENVOY_PORT} -j ACCEPT")
    for pod in sorted(pods, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"])):
        if pod_ip(pod):
            comment = f"{pod['metadata'].get('namespace', 'default')}/{pod['metadata']['name']}"
            filter_rules.append(f'-A {CHAIN} -s {pod_ip(pod)}/32 -m comment --comment "{comment}" -j DROP')
    filter_rules.append(f'-A {CHAIN} -m comment --comment "world" -j DROP')
    return "\n".join(["*filter", f":{CHAIN} - [0:0]", *filter_rules, "COMMIT", "*nat", f":{L7_CHAIN} - [0:0]", *nat_rules, "COMMIT", ""])


def l7_bootstrap(policies: list[IngressPolicy]) -> dict:
    """Envoy for the L7 rules: the allowed method/path pairs routed to the pod itself, everything else 403."""
    routes = []
    ports = set()
    for policy in policies:
        for allow in policy.allows:
            for rule in allow.http:
                match: dict = {"safe_regex": {"regex": rule.path}} if rule.path else {"prefix": "/"}
                if rule.method:
                    match["headers"] = [{"name": ":method", "string_match": {"safe_regex": {"regex": rule.method}}}]
                for port in allow.ports:
                    ports.add(port)
                    routes.append({"match": match, "route": {"cluster": f"local-{port}"}})
    routes.append({"match": {"prefix": "/"}, "direct_response": {"status": 403, "body": {"inline_string": ACCESS_DENIED}}})
    if len(ports) > 1:
        raise BadInput("the docker runtime emulates HTTP rules on one port per pod")
    port = next(iter(ports))
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
           "stat_prefix": STAT_PREFIX,
           # Hubble's L7 flows, as this emulation observes them: one JSON line per request on Envoy's stdout.
           "access_log": [{"name": "envoy.access_loggers.stdout", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
               "log_format": {"json_format": {"method": "%REQ(:METHOD)%", "path": "%REQ(:PATH)%", "code": "%RESPONSE_CODE%",
                                              "source": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"}}}}],
           "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
           "route_config": {"name": "policy", "virtual_hosts": [{"name": "policy", "domains": ["*"], "routes": routes}]}}
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ENVOY_ADMIN}}},
        "static_resources": {
            "listeners": [{"name": "policy-l7", "address": {"socket_address": {"address": "0.0.0.0", "port_value": ENVOY_PORT}},
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}]}],
            "clusters": [{"name": f"local-{port}", "type": "STATIC", "connect_timeout": "2s", "load_assignment": {
                "cluster_name": f"local-{port}", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                    "address": "127.0.0.1", "port_value": port}}}}]}]}}],
        },
    }


def envoy_argv(config: str, envoy: str = "envoy") -> list[str]:
    """Envoy's command line. Its access log is the L7 flow record, and Envoy writes log files out every 10 s by
    default: longer than a check waits. A 100 ms flush makes a request visible as soon as it is answered."""
    return [envoy, "-c", config, "--disable-hot-restart", "-l", "warning", "--file-flush-interval-msec", "100"]


class PolicyDatapath:
    """The emulation for one selected pod: its datapath container (iptables) and, for L7 rules, its Envoy."""

    def __init__(self, engine: DockerEngine, pod_container: str, labels: dict[str, str], proxy_image: str | None,
                 datapath_image: str | None = None):
        self.engine, self.pod, self.labels, self.proxy_image = engine, pod_container, labels, proxy_image
        self.datapath_image = datapath_image  # carries iptables and curl; the pod's own image when None
        self.datapath, self.envoy = f"{pod_container}-policy", f"{pod_container}-policy-envoy"

    def _ensure_datapath(self) -> None:
        ensure_datapath(self.engine, self.datapath, self.pod, self.labels, self.datapath_image)

    def enforce(self, policies: list[IngressPolicy], pods: list[dict]) -> None:
        """Rules replaced in one iptables-restore, hooked into INPUT and PREROUTING once; Envoy (re)started for L7."""
        l7 = any(allow.http for policy in policies for allow in policy.allows)
        old = self.engine.container(self.envoy)
        if old is not None:
            self.engine.remove(old, self.labels)
        self._ensure_datapath()
        if l7:
            self._run_envoy(policies)
        hooks = (f"{{ iptables -w 5 -C INPUT -j {CHAIN} 2>/dev/null || iptables -w 5 -A INPUT -j {CHAIN}; }} && "
                 f"{{ iptables -w 5 -t nat -C PREROUTING -j {L7_CHAIN} 2>/dev/null || iptables -w 5 -t nat -A PREROUTING -j {L7_CHAIN}; }}")
        script = f'printf "%s" "$1" | iptables-restore -w 5 --noflush && {hooks}'
        result = self.engine.exec(self.datapath, ["sh", "-c", script, "policy", iptables_script(policies, pods)])
        if result.returncode != 0:
            raise RuntimeFailure(f"iptables-restore of the policy failed in the datapath of {self.pod} "
                                 f"(the pod's image must carry iptables): {(result.stderr or result.stdout).strip()[:300]}")

    def clear(self) -> None:
        """The policy's rules out of the pod's namespace (they outlive the datapath container that set them)."""
        container = self.engine.container(self.datapath)
        if container is not None and container.status == "running":
            self.engine.exec(self.datapath, ["sh", "-c", f"iptables -w 5 -F {CHAIN}; iptables -w 5 -t nat -F {L7_CHAIN}"])

    def _run_envoy(self, policies: list[IngressPolicy]) -> None:
        if not self.proxy_image:
            raise BadInput("the docker runtime runs a policy's HTTP rules in Envoy: name its image in imageRoles.proxy")
        bootstrap = json.dumps(l7_bootstrap(policies), indent=1).encode()  # JSON is YAML, and keeps the body's \r\n
        self.engine.run(self.envoy, self.proxy_image, envoy_argv("/etc/envoy/envoy.yaml"),
                        labels={**self.labels, "lab.dev/role": "proxy"}, files={"/etc/envoy/envoy.yaml": FileSpec(bootstrap, 0o444)},
                        network_mode=f"container:{self.pod}", user=str(ENVOY_UID))
        self._ensure_datapath()
        deadline = time.monotonic() + 30
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"Envoy ({self.envoy}) did not become ready: {self.engine.logs(self.envoy)[-1500:]}")
            time.sleep(0.1)

    def drops(self) -> dict[str, int]:
        """Packets dropped so far, by source (`namespace/pod`, or `world`)."""
        result = self.engine.exec(self.datapath, ["iptables", "-w", "5", "-L", CHAIN, "-v", "-x", "-n"])
        counts: dict[str, int] = {}
        for line in result.stdout.splitlines():
            match = re.match(r"\s*(\d+)\s+\d+\s+DROP\b.*/\* (\S+) \*/", line)
            if match:
                counts[match.group(2)] = counts.get(match.group(2), 0) + int(match.group(1))
        return counts

    def ready(self) -> bool:
        container = self.engine.container(self.envoy)
        if container is None or container.status != "running":
            return False
        result = self.engine.exec(self.datapath, ["curl", "-s", "--max-time", "2", f"http://127.0.0.1:{ENVOY_ADMIN}/ready"])
        return result.returncode == 0 and result.stdout.strip() == "LIVE"

    def requests(self) -> list[tuple[float, dict]]:
        """Every request Envoy logged: (when, {method, path, code, source})."""
        if self.engine.container(self.envoy) is None:
            return []
        found = []
        for line in self.engine.logs(self.envoy).splitlines():
            stamp, _, text = line.partition(" ")
            if not text.startswith("{"):
                continue
            try:
                when = docker_time(stamp)
                found.append((when, json.loads(text)))
            except ValueError:
                continue
        return found
