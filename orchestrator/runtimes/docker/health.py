"""Whether the docker runtime's parts run: a check against a stopped part cannot pass however long it waits, so
each part that is not well is named, in the lab's words, with the command that heals it."""

from __future__ import annotations

from orchestrator.errors import PermanentFailure
from orchestrator.runtimes.docker.control_plane import COMPONENTS, component_container
from orchestrator.runtimes.docker.pod_spec import NAMESPACE_LABEL, POD_LABEL, ROLE_LABEL, VOLUMES_ROLE

COMPONENT_LABEL = "lab.dev/component"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
PARTS = {"etcd": "etcd", "kube-apiserver": "the API server", "kube-controller-manager": "the controller-manager",
         "kube-scheduler": "the scheduler"}  # COMPONENTS in the lab's words
ROLES = {"envoy": "Envoy (the emulated Cilium's proxy)", "datapath": "the emulated Cilium's datapath (iptables)"}


def _part(container) -> str:
    """A container as the lab names it: a control-plane component, a compose service, a pod, Envoy..."""
    labels = container.labels or {}
    if labels.get(COMPONENT_LABEL) in PARTS:
        return PARTS[labels[COMPONENT_LABEL]]
    if labels.get(COMPOSE_SERVICE_LABEL):
        return f"compose service {labels[COMPOSE_SERVICE_LABEL]}"
    if labels.get(POD_LABEL):
        return f"pod {labels.get(NAMESPACE_LABEL, 'default')}/{labels[POD_LABEL]}"
    return ROLES.get(labels.get(ROLE_LABEL, ""), labels.get(ROLE_LABEL) or "part")


def unwell_parts(engine, labels: dict[str, str], compose_doc: dict, instance, node_agent_running: bool) -> list[str]:
    """One line per part of the instance that is not running (missing, stopped, dead), and the node agent."""
    heal = instance.up_command
    containers = engine.states(labels)
    names = {c.name for c in containers}
    lines = []
    for service in sorted(compose_doc.get("services") or {}):
        expected = f"{instance.compose_project}-{service}-1"
        if expected not in names:
            lines.append(f"container {expected} (compose service {service}) does not exist; {heal} makes it again")
    for component in COMPONENTS if instance.data.get("control_plane") else ():
        expected = component_container(instance.name, component)
        if expected not in names:
            lines.append(f"{PARTS[component]}: container {expected} does not exist; {heal} makes it again")
    for container in containers:
        if container.labels.get(ROLE_LABEL) == VOLUMES_ROLE or container.status == "running":
            continue  # a volumes container is created to write a pod's volumes, never started
        full = engine.container(container.name)
        code = (full.attrs.get("State") or {}).get("ExitCode") if full is not None else None
        lines.append(f"{_part(container)}: container {container.name} is {container.status}" + (f" (exit code {code})" if code is not None else "")
                     + f"; {heal} starts it again")
    if not node_agent_running:
        lines.append(f"the node agent (the instance's kubelet, a process of this machine) is not running; {heal} starts it again")
    return lines


def require_running(engine, labels: dict[str, str], compose_doc: dict, instance, node_agent_running: bool = True) -> None:
    """Every part of the lab runs, or say which do not (exit 1)."""
    lines = unwell_parts(engine, labels, compose_doc, instance, node_agent_running)
    if lines:
        raise PermanentFailure("\n".join(lines))
