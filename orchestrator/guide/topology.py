"""The lab's topology as a graph, from the spec and what it renders alone: the network, the cluster with its
namespaces and pods (labels), the compose stack's containers (addresses), Envoy listeners and the policy
redirects that send traffic to them, and the path each check's traffic takes at its step. Written as DOT
(drawn by Graphviz) and as a Mermaid flowchart (rendered by GitHub).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from orchestrator.kube import cilium
from orchestrator.kube.cilium import selected_pods
from orchestrator.errors import BadInput
from orchestrator.render.artifacts import Rendered
from orchestrator.kube.objects import lab_pods, resolve_pod
from orchestrator.spec.model import Lab


@dataclass(frozen=True)
class GraphNode:
    id: str  # also the SVG <title> Graphviz writes for it
    label: str
    group: str  # network | cluster | namespace/<ns> | stack | proxy | outside
    shape: str = "box"


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    label: str
    kind: str = "allowed"  # one of EDGE_KINDS: what the check expects of the traffic, or how two things relate


# How each kind of edge is drawn (DOT attributes, Mermaid arrow, Mermaid colour) and what the legend says of it.
EDGE_KINDS = {
    "allowed": ('color="#2b8a3e", penwidth=1.4', "-->", "#2b8a3e", "traffic a check expects to get through", "───▶"),
    "redirected": ('color="#1c7ed6", penwidth=2.2', "==>", "#1c7ed6", "redirected to Cilium's L7 proxy, which sends it on", "━━━▶"),
    "denied": ('color="#e67700", penwidth=1.4, arrowhead=odot', "--o", "#e67700", "answered with a refusal (HTTP 403 from the proxy or RBAC)", "───○"),
    "refused": ('color="#c92a2a", style=dashed, arrowhead=tee', "--x", "#c92a2a", "dropped or refused (no answer, failed handshake, 401)", "- - -┤"),
    "observed": ('color="#868e96", style=dotted', "-.->", "#868e96", "flows Hubble must have seen", "·····▶"),
    "relation": ('color="#868e96", style=dotted, arrowhead=vee', "-.->", "#868e96", "selects, binds, grants, depends on", "·····&gt;"),
}


@dataclass
class Topology:
    network: str
    cluster: str
    nodes: dict[str, GraphNode] = field(default_factory=dict)
    edges: list[GraphEdge] = field(default_factory=list)

    def add(self, node: GraphNode) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id

    def edge(self, edge: GraphEdge) -> None:
        if edge not in self.edges:
            self.edges.append(edge)

    def groups(self) -> list[str]:
        return sorted({n.group for n in self.nodes.values()})

    def in_group(self, group: str) -> list[GraphNode]:
        return [n for n in self.nodes.values() if n.group == group]

    def cluster_groups(self) -> list[tuple[str, str, list[GraphNode]]]:
        """Inside the cluster: (group, title, nodes) per namespace, then the proxy."""
        return [(g, f"namespace {g.split('/', 1)[1]}" if g.startswith("namespace/") else GROUP_TITLES[g], self.in_group(g))
                for g in self.groups() if g.startswith("namespace/") or g in ("proxy", "control-plane", "node")]


def pod_id(pod: dict) -> str:
    """A pod's node id; a workload's pod template is named after its owner (a controller names the pods)."""
    meta = pod["metadata"]
    return f"pod {meta.get('namespace', 'default')}/{meta['name'] or meta['owner']}"


def _service_endpoints(compose: dict) -> dict[str, str]:
    """host (address, service name, alias) -> compose service, as other containers on the network reach it."""
    found = {}
    for name, service in (compose.get("services") or {}).items():
        found[name] = name
        networks = service.get("networks") or {}
        for config in (networks.values() if isinstance(networks, dict) else []):
            if isinstance(config, dict):
                if config.get("ipv4_address"):
                    found[str(config["ipv4_address"])] = name
                for alias in config.get("aliases") or []:
                    found[str(alias)] = name
    return found


def _address(compose: dict, name: str) -> str:
    networks = ((compose.get("services") or {}).get(name) or {}).get("networks") or {}
    for config in (networks.values() if isinstance(networks, dict) else []):
        if isinstance(config, dict) and config.get("ipv4_address"):
            return str(config["ipv4_address"])
    return ""


def _target(check) -> tuple[str, int] | None:
    """Where a check's traffic goes: an http check's URL, a tls check's host and port, a hubble check's filter."""
    params = check.params
    if "url" in params:
        parts = urlsplit(str(params["url"]))
        return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    if "host" in params and "port" in params:
        return str(params["host"]), int(params["port"])
    if "toIp" in params:
        return str(params["toIp"]), int(params["toPort"]) if params.get("toPort") else 0
    return None


def _covered(host: str, cidrs: tuple[str, ...]) -> bool:
    try:
        return cilium.covers(cidrs, host)
    except ValueError:  # a name, not an address: no toCIDR rule covers it
        return False


def _verdict(check, checks) -> str:
    """How a check's traffic fares, as its expectation says: a 403 is an answer (the L7 proxy's, RBAC's), any
    other refusal its kind names (a drop, a failed handshake, 401) is none."""
    status = check.expect.get("status")
    if status == 403:
        return "denied"
    kind = checks.get(check.type) if checks is not None else None
    return "refused" if kind is not None and kind.is_refusal(check.expect) else "allowed"


def _services(topology: Topology, docs: list[dict], pods: list[dict]) -> dict[str, str]:
    """Service nodes in their namespaces, linked to the pods they select; host names a pod resolves -> node id."""
    hosts = {}
    for svc in (d for d in docs if d.get("kind") == "Service"):
        meta = svc["metadata"]
        namespace = meta.get("namespace", "default")
        node = topology.add(GraphNode(f"service {namespace}/{meta['name']}", f"Service {meta['name']}", f"namespace/{namespace}", "oval"))
        for name in (meta["name"], f"{meta['name']}.{namespace}", f"{meta['name']}.{namespace}.svc", f"{meta['name']}.{namespace}.svc.cluster.local"):
            hosts[name] = node
        selector = (svc.get("spec") or {}).get("selector") or {}
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            if selector and pod["metadata"].get("namespace", "default") == namespace and selector.items() <= labels.items():
                topology.edge(GraphEdge(node, pod_id(pod), "selects", "relation"))
    return hosts


def build(lab: Lab, rendered: Rendered, checks=None) -> Topology:
    docs = rendered.docs()
    compose = rendered.compose()
    topology = Topology(f"docker network {lab.network.name} ({lab.network.subnet})", f"Kubernetes cluster {lab.instance}{_nodes_of(rendered)}")
    # pods, by namespace, with their labels (not the owner labels: the same on every object, noise in a picture)
    owner = lab.owner_labels()
    pods = lab_pods(docs)
    for pod in pods:
        meta = pod["metadata"]
        labels = "\n".join(f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items()) if k not in owner)
        topology.add(GraphNode(pod_id(pod), f"pod {meta['name'] or meta['owner']}" + (f"\n{labels}" if labels else ""),
                               f"namespace/{meta.get('namespace', 'default')}"))
    # the compose stack
    for name, service in (compose.get("services") or {}).items():
        address = _address(compose, name)
        topology.add(GraphNode(name, f"{name}\n{service.get('image', '')}" + (f"\n{address}" if address else ""), "stack"))
        for dependency in service.get("depends_on") or []:
            topology.edge(GraphEdge(name, str(dependency), "depends on", "relation"))
    redirects = _proxies(topology, lab, rendered, docs, pods)
    _users_and_rbac(topology, lab, docs, checks)
    _trust(topology, lab, docs, checks)
    endpoints = {**_service_endpoints(compose), **_services(topology, docs, pods)}
    # the path of each check's traffic
    for index, step in enumerate(lab.steps):
        check = step.check
        target = _target(check) if check else None
        if not target:
            continue
        host, port = target
        if host in ("127.0.0.1", "localhost", "::1"):  # a pod on the node's network reaching the node's own port (Hubble's 4244)
            destination = topology.add(GraphNode(f"node port {port}", f"the node's port {port}", "node", "ellipse"))
        else:
            destination = endpoints.get(host) or topology.add(GraphNode(f"{host}:{port}", f"{host}:{port}", "outside", "ellipse"))
        try:
            source = pod_id(resolve_pod(check.source if check.type != "hubble" else _hubble_source(check), docs))
        except BadInput:  # a check `up` would refuse for its pod: it says why; the picture leaves it out
            continue
        via = [(i, rule) for i, selected, rule in redirects
               if 0 <= i < index and rule.port == port and source in selected and _covered(host, rule.cidrs)]
        if check.type == "hubble":
            topology.edge(GraphEdge(source, destination, f"{step.name}: observed by Hubble", "observed"))
        elif via:
            envoy = f"Envoy {via[0][1].config_name}"
            topology.edge(GraphEdge(source, envoy, f"{step.name}: :{port} redirected to listener {via[0][1].listener}", "redirected"))
            topology.edge(GraphEdge(envoy, destination, f"{step.name}: TLS from the proxy to :{port}", _verdict(check, checks)))
        else:
            topology.edge(GraphEdge(source, destination, f"{step.name}: :{port}", _verdict(check, checks)))
    return topology


def _proxies(topology: Topology, lab: Lab, rendered: Rendered, docs: list[dict], pods: list[dict]) -> list:
    """Envoy listeners (CCECs), and the redirects policies install: (index of the step applying the policy, ids
    of the pods it selects, the rule)."""
    applied_at = {}
    for index, step in enumerate(lab.steps):
        if step.kind == "apply":
            for doc in rendered.docs(step.params):
                applied_at.setdefault((doc.get("kind"), doc["metadata"].get("name")), index)
    for ccec in (d for d in docs if d.get("kind") == "CiliumClusterwideEnvoyConfig"):
        listeners = [r["name"] for r in ccec["spec"].get("resources", []) if r.get("@type") == cilium.LISTENER_TYPE]
        topology.add(GraphNode(f"Envoy {ccec['metadata']['name']}", f"Envoy (CiliumClusterwideEnvoyConfig {ccec['metadata']['name']})\n"
                               + "\n".join(f"listener {name}" for name in listeners), "proxy", "component"))
    redirects = []  # (index of the step applying the policy, ids of the pods it selects, the rule)
    for cnp in (d for d in docs if d.get("kind") == "CiliumNetworkPolicy"):
        selected = {pod_id(p) for p in selected_pods(cnp, pods)}
        redirects += [(applied_at.get(("CiliumNetworkPolicy", cnp["metadata"]["name"]), -1), selected, rule) for rule in cilium.redirects(cnp)]
    return redirects


def _nodes_of(rendered: Rendered) -> str:
    """The cluster's nodes as kind makes them (the docker runtime runs one node)."""
    import yaml

    from orchestrator.render.artifacts import KIND_CONFIG

    if KIND_CONFIG not in rendered.files:
        return ""
    roles = [n.get("role", "control-plane") for n in (yaml.safe_load(rendered.files[KIND_CONFIG]) or {}).get("nodes") or [{}]]
    counts = ", ".join(f"{roles.count(r)} {r}" for r in dict.fromkeys(roles))
    return f"\nkind nodes: {counts}"


def _users_and_rbac(topology: Topology, lab: Lab, docs: list[dict], checks) -> None:
    """The API server, the users the lab makes (and how they are signed), what RBAC binds to them, and the
    requests the checks make as them."""
    users = {s.params.name: s.params for s in lab.steps if s.kind == "user"}
    asked = [s for s in lab.steps if s.check and s.check.type in ("kube-access", "csr", "cluster-cert")]
    if not users and not asked:
        return
    topology.add(GraphNode(API_SERVER, "kube-apiserver\n(authentication: client certificates of the cluster CA;\nauthorization: RBAC)",
                           "control-plane", "component"))
    for name, user in users.items():
        groups = "".join(f", O={g}" for g in user.groups)
        signed = {"csr": "signed via the CSR API", "cluster-ca": "signed with the cluster CA's key", "untrusted-ca": "signed by an untrusted CA"}[user.via]
        topology.add(GraphNode(f"user {name}", f"user {name}\nCN={user.cn}{groups}\n{signed}", "outside", "ellipse"))
    for doc in docs:
        if doc.get("kind") in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
            meta = doc["metadata"]
            node = topology.add(GraphNode(f"{doc['kind']} {meta['name']}", f"{doc['kind']} {meta['name']}",
                                          f"namespace/{meta['namespace']}" if meta.get("namespace") else "control-plane"))
            if doc["kind"].endswith("Binding"):
                for subject in doc.get("subjects") or []:
                    if subject.get("kind") == "User" and f"user {subject['name']}" in topology.nodes:
                        topology.edge(GraphEdge(node, f"user {subject['name']}", "binds", "relation"))
                role = doc.get("roleRef", {})
                topology.edge(GraphEdge(node, topology.add(GraphNode(f"{role.get('kind')} {role.get('name')}", f"{role.get('kind')} {role.get('name')}",
                                                                    f"namespace/{meta['namespace']}" if meta.get("namespace") else "control-plane")),
                                        "grants", "relation"))
    for step in asked:
        p = step.check.params
        if step.check.type == "kube-access" and f"user {p['user']}" in topology.nodes:
            status = step.check.expect.get("status")
            topology.edge(GraphEdge(f"user {p['user']}", API_SERVER, f"{step.name}: {p['verb']} {p['resource']}" + (f" → {status}" if status else ""),
                                    _verdict(step.check, checks)))
        else:
            topology.add(GraphNode(ADMIN, ADMIN, "outside", "ellipse"))
            topology.edge(GraphEdge(ADMIN, API_SERVER, f"{step.name}: {step.check.type}", "allowed"))


def _secret_node(topology: Topology, namespace: str, name: str) -> str:
    return topology.add(GraphNode(f"Secret {namespace}/{name}", f"Secret {name}", f"namespace/{namespace}", "note"))


def _trust(topology: Topology, lab: Lab, docs: list[dict], checks) -> None:
    """Who trusts what, for the certificate labs: a Secret's certificate and the CA it must chain to, the
    caBundles that must hold a Secret's CA, and the API server calling a webhook it must trust."""
    for step in (s for s in lab.steps if s.check):
        check, p = step.check, step.check.params
        if check.type == "secret-cert":
            cert = _secret_node(topology, p["namespace"], p["name"])
            ca = _secret_node(topology, p.get("caNamespace", p["namespace"]), p.get("caSecret", p["name"]))
            signed = "signed by" if check.expect.get("verified", True) else "NOT signed by"
            topology.edge(GraphEdge(cert, ca, f"{step.name}: {p.get('key', 'tls.crt')} {signed} {p.get('caKey', 'ca.crt')}",
                                    "allowed" if check.expect.get("verified", True) else "refused"))
        elif check.type == "ca-bundle":
            secret = _secret_node(topology, p["secret"]["namespace"], p["secret"]["name"])
            for o in p["objects"]:
                holder = topology.add(GraphNode(f"{o['kind']} {o['name']}", f"{o['kind']}\n{o['name']}", "control-plane"))
                topology.edge(GraphEdge(holder, secret, f"{step.name}: caBundle " + ("=" if check.expect.get("matchSecret") else "≠") + " its ca.crt",
                                        "allowed" if check.expect.get("matchSecret") else "refused"))
        elif check.type == "admission":
            topology.add(GraphNode(API_SERVER, "kube-apiserver", "control-plane", "component"))
            topology.add(GraphNode(ADMIN, ADMIN, "outside", "ellipse"))
            topology.edge(GraphEdge(ADMIN, API_SERVER, f"{step.name}: dry-run apply {p['group']}", "allowed" if check.expect.get("admitted") else "refused"))
            for hook in (w for d in docs if d.get("kind") == "ValidatingWebhookConfiguration" for w in d.get("webhooks") or []):
                service = (hook.get("clientConfig") or {}).get("service") or {}
                if service.get("name"):
                    node = topology.add(GraphNode(f"service {service.get('namespace', 'default')}/{service['name']}", f"Service {service['name']}",
                                                  f"namespace/{service.get('namespace', 'default')}", "oval"))
                    topology.edge(GraphEdge(API_SERVER, node, f"{step.name}: calls the webhook over TLS, trusting its caBundle",
                                            "allowed" if check.expect.get("admitted") else "refused"))
                    break


def _hubble_source(check):
    from orchestrator.spec.model import PodRef

    params = check.params
    return PodRef(params.get("namespace"), params["pod"]) if params.get("pod") else None


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


GROUP_TITLES = {"node": "the node (host network)", "stack": "compose stack", "proxy": "Cilium's L7 proxy", "control-plane": "control plane", "outside": "outside"}
API_SERVER = "kube-apiserver"
ADMIN = "you (admin kubeconfig)"


@dataclass
class Box:
    """A frame of the picture: the network holds the cluster (its namespaces, proxy, control plane) and the stack."""

    id: str
    title: str
    style: str
    color: str = ""
    nodes: list[GraphNode] = field(default_factory=list)
    boxes: list["Box"] = field(default_factory=list)


def layout(topology: Topology) -> Box:
    """The nesting both writers draw, decided once."""
    network = Box("cluster_network", topology.network, "dashed")
    if topology.cluster_groups():
        network.boxes.append(Box("cluster_k8s", topology.cluster, "rounded", "#326ce5", [],
                                 [Box(_cluster_name(group), title, "rounded", "", nodes) for group, title, nodes in topology.cluster_groups()]))
    if topology.in_group("stack"):
        network.boxes.append(Box("cluster_stack", GROUP_TITLES["stack"], "rounded", "#2b8a3e", topology.in_group("stack")))
    return network


FONT = "Helvetica,Arial,Noto Sans CJK KR,Noto Sans KR,Malgun Gothic,sans-serif"  # a fallback for Korean titles


def legend(topology: Topology) -> list[tuple[str, str]]:
    """(edge kind, what it means) for the kinds the picture draws, in EDGE_KINDS' order."""
    used = {e.kind for e in topology.edges}
    return [(kind, spec[3]) for kind, spec in EDGE_KINDS.items() if kind in used]


def to_dot(topology: Topology) -> str:
    lines = ["digraph lab {", f'  graph [rankdir=LR, fontname="{FONT}", fontsize=12, compound=true];',
             f'  node [shape=box, style="rounded,filled", fillcolor="#f5f7fa", fontname="{FONT}", fontsize=11];',
             f'  edge [fontname="{FONT}", fontsize=11];']

    def draw(box: Box, pad: str) -> None:
        color = f' color="{box.color}";' if box.color else ""
        lines.append(f"{pad}subgraph {box.id} {{ label={_quote(box.title)}; style={box.style};{color}")
        lines.extend(f"{pad}  {_quote(n.id)} [label={_quote(n.label)}, shape={n.shape}];" for n in box.nodes)
        for inner in box.boxes:
            draw(inner, pad + "  ")
        lines.append(pad + "}")

    draw(layout(topology), "  ")
    lines += [f"  {_quote(n.id)} [label={_quote(n.label)}, shape={n.shape}];" for n in topology.in_group("outside")]
    lines += [f"  {_quote(e.source)} -> {_quote(e.target)} [label={_quote(e.label)}, {EDGE_KINDS[e.kind][0]}];" for e in topology.edges]
    if legend(topology):  # one compact node: each kind's stroke in its colour, and what it means
        rows = "".join(f'<tr><td align="left"><font color="{EDGE_KINDS[kind][2]}">{EDGE_KINDS[kind][4]}</font></td>'
                       f'<td align="left">{html.escape(meaning)}</td></tr>' for kind, meaning in legend(topology))
        lines.append(f'  legend [shape=plaintext, style="", label=<<table border="1" color="#cccccc" cellborder="0" cellspacing="2">'
                     f'<tr><td colspan="2"><b>Legend</b></td></tr>{rows}</table>>];')
    return "\n".join(lines + ["}"]) + "\n"


def _cluster_name(group: str) -> str:
    return "cluster_" + re.sub(r"[^A-Za-z0-9_]", "_", group)


def _mermaid_id(node_id: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def _mermaid_text(text: str) -> str:
    return text.replace("\n", "<br/>").replace('"', "#quot;")


def to_mermaid(topology: Topology) -> str:
    lines = ["flowchart LR"]

    def draw(box: Box, pad: str) -> None:
        lines.append(f'{pad}subgraph {box.id}["{_mermaid_text(box.title)}"]')
        lines.extend(f'{pad}  {_mermaid_id(n.id)}["{_mermaid_text(n.label)}"]' for n in box.nodes)
        for inner in box.boxes:
            draw(inner, pad + "  ")
        lines.append(pad + "end")

    draw(layout(topology), "  ")
    lines += [f'  {_mermaid_id(n.id)}(["{_mermaid_text(n.label)}"])' for n in topology.in_group("outside")]
    edges = [(_mermaid_id(e.source), _mermaid_id(e.target), e.label, e.kind) for e in topology.edges]
    if legend(topology):  # each kind of arrow, drawn between two empty boxes, saying what it means
        lines.append('  subgraph legend["Legend"]')
        for i, (kind, meaning) in enumerate(legend(topology)):
            lines.append(f'    legend_{i}a[" "]')
            lines.append(f'    legend_{i}b[" "]')
            edges.append((f"legend_{i}a", f"legend_{i}b", meaning, kind))
        lines.append("  end")
    lines += [f'  {source} {EDGE_KINDS[kind][1]}|"{_mermaid_text(label)}"| {target}' for source, target, label, kind in edges]
    lines += [f"  linkStyle {i} stroke:{EDGE_KINDS[kind][2]}" for i, (_s, _t, _l, kind) in enumerate(edges)]
    return "\n".join(lines) + "\n"
