"""Real Cilium (the kind runtime's network plugin): installed by its chart, enforcing on its own; this plugin
only asks it. Flows are `hubble observe` run inside the agent on the source pod's node (no port-forward, no
hubble CLI on the host); on failure the agents' logs, redirects, Envoy listeners and clusters, and Hubble's last
flows are collected."""

from __future__ import annotations

import contextlib
import json
from typing import Any, Callable

from orchestrator.errors import RuntimeFailure
from orchestrator.network.base import FlowQuery, Flows
from orchestrator.spec.model import PodRef

AGENT_SELECTOR = "k8s-app=cilium"  # Hubble runs in the Cilium agent; `hubble observe` is run there
AGENT_NAMESPACE = "kube-system"
AGENT_CONTAINER = "cilium-agent"


class CiliumNetwork:
    name = "cilium"

    def __init__(self, host):
        self.host = host  # its kube (the API) and find_pod (a pod of the lab by reference)

    def validate(self, docs: list[dict]) -> list[str]:
        return []  # Cilium's own CRDs judge its objects

    def reconcile(self, docs: list[dict]) -> None:
        return None  # the agent follows the API itself

    def holding(self):
        return contextlib.nullcontext()  # its agents follow the API at their own pace, as on any cluster

    def before_exec(self, container: str) -> None:
        return None

    def explain(self, pod, since: float) -> str:
        return ""  # Cilium's Envoy logs and `cilium-dbg envoy admin` output land in the collected logs instead

    def reset(self) -> list[str]:
        return []

    def forget(self) -> None:
        return None

    def _agent_on_node_of(self, namespace: str, pod: str) -> str:
        kube = self.host.kube
        node = kube.pod_node(namespace, pod)
        agents = kube.pods(AGENT_NAMESPACE, AGENT_SELECTOR, node=node)
        if not agents:
            raise RuntimeFailure(f"no Cilium agent pod on node {node}")
        return agents[0]

    def flows(self, query: FlowQuery) -> Flows:
        """Only flow records count (lost-events records are not flows)."""
        filters = query.filters
        source = PodRef(filters.get("namespace"), filters["pod"]) if filters.get("pod") else None
        namespace, name = self.host.find_pod(source)
        agent = self._agent_on_node_of(namespace, name)
        code, out, err = self.host.kube.exec(AGENT_NAMESPACE, agent, list(query.argv), container=AGENT_CONTAINER)
        if code != 0:
            raise RuntimeFailure(f"hubble observe failed in {agent}: {err.strip()[:300]}")
        verdicts = []
        for line in out.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("flow"), dict):
                verdicts.append(record["flow"].get("verdict", "UNKNOWN"))
        return Flows(len(verdicts), f"hubble observe in {agent}", tuple(verdicts), output=f"$ {' '.join(query.argv)}\n{out[-4000:]}\n{err[-1000:]}")

    def collect(self, save: Callable[[str, Callable[[], str]], Any]) -> None:
        kube = self.host.kube
        try:
            agents = kube.pods(AGENT_NAMESPACE, AGENT_SELECTOR)
        except RuntimeFailure as exc:
            agents, reason = [], exc.message
            save("cilium-agents.txt", lambda: f"unavailable: {reason}")
        for agent in agents:
            save(f"{agent}.log", lambda a=agent: kube.logs(AGENT_NAMESPACE, a, AGENT_CONTAINER))
            for what, argv in (("redirects", ["cilium-dbg", "status", "--all-redirects"]),
                               ("envoy-listeners", ["cilium-dbg", "envoy", "admin", "listeners"]),
                               ("envoy-clusters", ["cilium-dbg", "envoy", "admin", "clusters"]),
                               ("hubble", ["hubble", "observe", "--last", "200"])):
                save(f"{agent}-{what}.txt", lambda a=agent, v=argv: "\n".join(str(x) for x in kube.exec(AGENT_NAMESPACE, a, v, container=AGENT_CONTAINER)[1:]))
        try:
            for envoy in kube.pods(AGENT_NAMESPACE, "k8s-app=cilium-envoy"):
                save(f"{envoy}.log", lambda e=envoy: kube.logs(AGENT_NAMESPACE, e))
        except RuntimeFailure:
            pass
