"""Cilium emulated from the objects the API server holds (the docker runtime's network plugin).

As Cilium's agent would: after an apply, the CiliumClusterwideEnvoyConfig runs in a real Envoy in the redirected
pod's network namespace and the CiliumNetworkPolicy's listener redirect is an iptables rule there (proxy.py);
an ingress policy is enforced in each selected pod's namespace (policy.py). Hubble's flows are what the
emulation observed: Envoy's counters, the drop rules' counters and Envoy's access log.

Cilium's agent follows the API server whoever changes it; so does the emulation: the node agent runs its loop
(agent.py) and every command of the lab follows first, both acting on one locked record (record.py).

The plugin is handed its host: in the lab's commands the runtime (its Docker engine, its Kubernetes API, its
instance, the images the lab names for the proxy and the datapath, how a pod's container is named and found,
the check that every part of the lab still runs), in the node agent a host of the same shape (agent.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from functools import cached_property
from typing import Any, Callable

from orchestrator.errors import BadInput
from orchestrator.kube import cilium
from orchestrator.kube.cilium import in_namespace, ingress_policy
from orchestrator.kube.objects import labels_match
from orchestrator.network.base import FlowQuery, Flows
from orchestrator.network.emulated.policy import POLICY_FLOWS_SOURCE, PolicyDatapath
from orchestrator.network.emulated.proxy import CiliumProxy, Route, proxy_problems, redirected_pods, routes
from orchestrator.network.emulated.record import CiliumRecord



def describe(lab, runtime: str) -> list[str]:
    """What the emulation does for this lab, in words (`lab show`)."""
    lines = []
    if "proxy" in lab.image_roles and "datapath" not in lab.image_roles:
        lines += [f"In the {runtime} runtime, pods run as containers, a CiliumClusterwideEnvoyConfig runs in a real Envoy in the",
                  "redirected pod's network namespace, a CiliumNetworkPolicy listener redirect is an iptables rule there, and",
                  "Hubble's flows are read from Envoy's connection counters."]
    if "datapath" in lab.image_roles:
        lines += [f"In the {runtime} runtime, a CiliumNetworkPolicy's ingress rules are enforced in each selected pod's network",
                  "namespace: fromEndpoints resolved to the pods' IPs, allowed TCP ports accepted and the rest dropped by iptables",
                  "(run from the datapath image), HTTP rules by a real Envoy answering 403 Access denied; Hubble's flows are the",
                  "drop rules' counters and Envoy's access log. Other policy features are refused by name."]
    return lines


class EmulatedCilium:
    name = "emulated-cilium"

    def __init__(self, host):
        self.host = host
        self.record = CiliumRecord(host.instance.state_dir, host.instance.name)

    @property
    def data(self) -> dict:
        """The record, while a public method holds it."""
        return self.record.current

    def _image(self, role: str) -> str | None:
        return self.host.network_image(role)

    def holding(self):
        """While the lab applies or deletes several objects, the agent's loop waits (it would follow each half-way
        state); what the lab asks of the plugin meanwhile runs at once."""
        return self.record.held()

    @cached_property
    def proxy(self) -> CiliumProxy:
        return CiliumProxy(self.host.engine, f"lab-{self.host.instance.name}-envoy", self.host.labels, self._image("proxy"))

    def validate(self, docs: list[dict]) -> list[str]:
        """What the emulation cannot do, before anything runs (the manifests themselves are the API server's to judge)."""
        spec_file = self.host.instance.require_lab().spec_file
        problems = proxy_problems(docs)
        for doc in (d for d in docs if d.get("kind") == "CiliumNetworkPolicy"):
            try:
                policy = ingress_policy(doc)
            except BadInput as exc:
                problems.append(exc.message)
                continue
            except (KeyError, TypeError, AttributeError, ValueError):
                continue  # malformed: the API server refuses it at apply, naming the field
            if policy and any(allow.http for allow in policy.allows) and not self._image("proxy"):
                problems.append(f"{spec_file}: imageRoles.proxy: the docker runtime runs a policy's HTTP rules in Envoy; name its image key")
        if any(d.get("kind") == "CiliumClusterwideEnvoyConfig" for d in docs) and not self._image("proxy"):
            problems.append(f"{spec_file}: imageRoles.proxy: the docker runtime runs CiliumClusterwideEnvoyConfigs in Envoy; name its image key")
        return problems

    def reconcile(self, docs: list[dict]) -> None:
        """After an apply: what Cilium does with the objects the API server now holds."""
        if any(d.get("apiVersion", "").startswith("cilium.io/") for d in docs):
            self.follow()

    def follow(self) -> None:
        """Cilium follows the API server, whoever changed it: a participant's `kubectl apply` or `delete`, an edit.
        The objects Cilium reads are compared with those last followed (by the agent's loop every second, and
        before each command in a pod and each flow query); on a change Envoy and the datapaths are rebuilt from
        what the API server holds now (nothing of them when the policies are gone). A redirected pod the node
        recreated gets its proxy and redirect back, as Cilium regenerates an endpoint."""
        with self.record.held() as data:
            seen = data.get("cilium_seen")
        if seen is None and not self.host.kube.known("cilium.io/v2", "CiliumNetworkPolicy"):
            return  # no Cilium CRDs (yet): no object of Cilium's to follow
        # Read outside the hold (unless the caller holds it): an API server that is slow or gone (etcd stopped)
        # must not hold up the lab's commands, which wait for a rebuild under way, never for a read.
        world = self._world()
        with self.record.held() as data:
            if data.get("cilium_seen") != seen:
                return  # followed by another meanwhile, from a newer read than this one; the next pass reads again
            redirected = data.get("redirected_pod")
            if world[-1] == seen and not (redirected and self._recreated(redirected)):
                return
            self._unplug()
            self._reconcile(world)

    def _recreated(self, container: str) -> bool:
        current = self.host.engine.container(container)
        return current is not None and current.id != self.data.get("redirected_container_id")

    def _world(self) -> tuple[list[dict], list[dict], list[dict], list[dict], str]:
        """CNPs, CCECs, running pods, Secrets (read only when a CCEC may name one), and a digest of what of them Cilium
        acts on (a pod's identity and address, an object's resourceVersion; not a pod's status churn)."""
        kube = self.host.kube
        cnps = kube.list("cilium.io/v2", "CiliumNetworkPolicy")
        ccecs = kube.list("cilium.io/v2", "CiliumClusterwideEnvoyConfig")
        pods = [p for p in kube.list("v1", "Pod") if (p.get("status") or {}).get("phase") == "Running"]
        secrets = kube.list("v1", "Secret") if ccecs else []
        marks = sorted([(d.get("kind", ""), d["metadata"].get("namespace", ""), d["metadata"]["name"], d["metadata"].get("resourceVersion", ""))
                        for d in cnps + ccecs + secrets]
                       + [("Pod", p["metadata"].get("namespace", ""), p["metadata"]["name"], f"{p['metadata'].get('uid')}@{p['status'].get('podIP')}")
                          for p in pods])
        return cnps, ccecs, pods, secrets, hashlib.sha256(json.dumps(marks).encode()).hexdigest()

    def _reconcile(self, world) -> None:
        cnps, ccecs, pods, secrets, digest = world
        self.data["cilium_seen"] = digest
        if not cnps and not ccecs:
            return
        ingress = [policy for policy in (ingress_policy(cnp) for cnp in cnps) if policy is not None]  # BadInput names what is not emulated
        if ingress:
            self._enforce_ingress(ingress, pods)
        if ccecs or any(cilium.redirects(cnp) for cnp in cnps):
            self._redirect(cnps, ccecs, pods, secrets)

    def _redirect(self, cnps: list[dict], ccecs: list[dict], pods: list[dict], secrets: list[dict]) -> None:
        """The CCEC in Envoy and the CNP's listener redirect, in the selected pod's network namespace."""
        world = cnps + ccecs + pods + secrets
        problems = proxy_problems(world)
        if problems:
            raise BadInput("; ".join(problems))
        selected = redirected_pods(world)
        if not selected:  # a CCEC alone (its CNP not applied yet, or deleted): a listener no traffic reaches
            return
        container = self.host.pod_container(selected[0]["metadata"]["name"])
        self.data["redirected_pod"] = container
        self.data["redirected_container_id"] = self.host.engine.container(container).id
        redirecting = [cnp for cnp in cnps if cilium.redirects(cnp)]

        def redirect() -> None:
            self.proxy.ensure_datapath(container)
            for cnp in redirecting:
                self.proxy.redirect(cnp, world, container)

        # The datapath and its redirect are made while Envoy starts (its listener ports are the docs', not Envoy's):
        # nothing sends through the redirect before this step ends, and by then Envoy is ready.
        with ThreadPoolExecutor(1) as pool:
            redirected = pool.submit(redirect)
            for ccec in ccecs:
                self.proxy.run_envoy(ccec, world, container)
            redirected.result()
        self.data["proxy_routes"] = [asdict(r) for cnp in redirecting for r in routes(cnp, ccecs, world)]

    def _datapath(self, container: str) -> PolicyDatapath:
        return PolicyDatapath(self.host.engine, container, self.host.labels, self._image("proxy"), self._image("datapath"))

    def _enforce_ingress(self, policies: list, pods: list[dict]) -> None:
        """Each pod an ingress policy selects gets the rules of every policy selecting it (Cilium's per-endpoint
        policy), in its own namespace; recorded so flows, reset and teardown find them."""
        enforced = []
        for pod in pods:
            mine = [p for p in policies if in_namespace([pod], p.namespace, p.selector)]
            if mine:
                container = self.host.pod_container(pod["metadata"]["name"])
                self._datapath(container).enforce(mine, pods)
                enforced.append({"container": container, "namespace": pod["metadata"].get("namespace", "default"),
                                 "pod": pod["metadata"]["name"], "labels": pod["metadata"].get("labels") or {}})
        self.data["policy_pods"] = enforced

    def before_exec(self, container: str) -> None:
        """A command is about to run in a pod: Cilium follows the API server's objects first; if this is the
        redirected pod and the node recreated it, the proxy and the redirect go back (as Cilium regenerates an
        endpoint); then Envoy is sampled, so the flows window starts before this command's traffic. Checks that
        run side by side share one sample: one taken since this command asked still precedes its traffic."""
        asked = time.time()
        self.follow()  # its reads run beside the other commands' (it compares and rebuilds under the hold)
        with self.record.held() as data:
            if container == data.get("redirected_pod") and not self.proxy.sampled_since(asked):
                self.proxy.sample(container)

    def explain(self, pod, since: float) -> str:
        container = self.host.pod_container(self.host.find_pod(pod)[1])
        with self.record.held() as data:
            redirected = data.get("redirected_pod")
        return self.proxy.explain(container, since) if container == redirected else ""

    def flows(self, query: FlowQuery) -> Flows:
        with self.record.held():
            self.follow()
            if query.filters.get("toLabel") or query.filters.get("toPod"):
                return self._policy_flows(query)
            return self._proxy_flows(query)

    def _proxy_flows(self, query: FlowQuery) -> Flows:
        container = self.data.get("redirected_pod")
        if container is None:
            return Flows(0, "no pod of the lab is redirected to a proxy", output="")
        self.host.require_running()
        to_port = query.filters.get("toPort")
        routes_now = [Route.from_record(record) for record in self.data.get("proxy_routes", [])]
        selected = [r for r in routes_now if r.matches(query.filters.get("toIp"), int(to_port) if to_port is not None else None)]
        return self.proxy.flows(container, query.since, selected)

    def _policy_flows(self, query: FlowQuery) -> Flows:
        """Flows from one pod to the pods an ingress policy selects, as the emulation saw them: L3/L4 drops by the
        per-source DROP rules' counters (since the rules were installed, i.e. the stage that applied the policy),
        L7 requests from Envoy's access log (since the check's stage began)."""
        f = query.filters
        namespace = f.get("namespace", "default")
        source = f"{namespace}/{f['pod']}" if f.get("pod") else None
        targets = [t for t in self.data.get("policy_pods", []) if t["namespace"] == namespace
                   and (not f.get("toPod") or t["pod"] == f["toPod"]) and (not f.get("toLabel") or labels_match(t["labels"], f["toLabel"]))]
        if not targets:
            return Flows(0, POLICY_FLOWS_SOURCE, output="no pod the flows go to is selected by an ingress policy")
        l7 = f.get("flowType") in ("l7", "http", "http-request") or f.get("httpMethod") or f.get("httpPath")
        ips = {p.get("status", {}).get("podIP"): f"{p['metadata'].get('namespace', 'default')}/{p['metadata']['name']}"
               for p in self.host.kube.list("v1", "Pod")}
        verdicts, lines = [], []
        for target in targets:
            datapath = self._datapath(target["container"])
            seen = self._l7_flows(datapath, target, query, source, ips) if l7 else self._drops(datapath, target, source)
            verdicts += seen[0]
            lines += seen[1]
        if f.get("verdict"):
            verdicts = [v for v in verdicts if v == f["verdict"]]
        return Flows(len(verdicts), POLICY_FLOWS_SOURCE, tuple(verdicts), output="\n".join(lines))

    @staticmethod
    def _l7_flows(datapath: PolicyDatapath, target: dict, query: FlowQuery, source: str | None, ips: dict) -> tuple[list[str], list[str]]:
        f, verdicts, lines = query.filters, [], []
        for when, request in datapath.requests():
            who = ips.get(request.get("source"), request.get("source"))
            if when < query.since or (source and who != source) or (f.get("httpMethod") and request.get("method") != f["httpMethod"]) \
                    or (f.get("httpPath") and request.get("path") != f["httpPath"]):
                continue
            verdicts.append("DROPPED" if str(request.get("code")) == "403" else "FORWARDED")
            lines.append(f"{who} -> {target['pod']}: {request.get('method')} {request.get('path')} {request.get('code')} ({verdicts[-1]})")
        return verdicts, lines

    @staticmethod
    def _drops(datapath: PolicyDatapath, target: dict, source: str | None) -> tuple[list[str], list[str]]:
        count = sum(v for k, v in datapath.drops().items() if not source or k == source)
        return ["DROPPED"] * count, [f"{source or 'any pod'} -> {target['pod']}: {count} packet(s) dropped by policy since it was installed"]

    def reset(self) -> list[str]:
        """Envoy and the datapaths go with the objects they followed (a rerun's apply brings them back)."""
        with self.record.held() as data:
            removed = self._unplug()
            data.pop("cilium_seen", None)
            return removed

    def _unplug(self) -> list[str]:
        """Envoy and the datapaths removed, their rules first (the objects stay in the API server)."""
        engine, removed = self.host.engine, []
        names = [self.proxy.name, self.proxy.datapath]
        self.proxy.clear()
        for enforced in self.data.pop("policy_pods", []):
            datapath = self._datapath(enforced["container"])
            datapath.clear()
            names += [datapath.envoy, datapath.datapath]
        for name in names:
            existing = engine.container(name)
            if existing is not None:
                engine.remove(existing, self.host.labels)
                removed.append(name)
        for key in ("redirected_pod", "redirected_container_id", "proxy_routes"):
            self.data.pop(key, None)
        return removed

    def collect(self, save: Callable[[str, Callable[[], str]], Any]) -> None:
        with self.record.held() as data:
            redirected = data.get("redirected_pod")
        if redirected:
            save("redirected-pod-iptables.txt", lambda: self.proxy.rules(redirected))

    def forget(self) -> None:
        self.record.remove()
