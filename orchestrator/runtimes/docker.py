"""The docker runtime: the lab without Kubernetes.

The lab's network is created as kind would have it; the compose stack runs on it; pods run as containers
(emulation/pods.py); a CiliumClusterwideEnvoyConfig runs in a real Envoy sharing the redirected pod's
network namespace and a CiliumNetworkPolicy listener redirect becomes an iptables rule there
(emulation/proxy.py). Only the kinds in HANDLED are run; `validate` names anything else before `up` starts.
"""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Callable

from orchestrator.diagnostics import Finding, docker_findings, network_findings, port_findings
from orchestrator.emulation import pods as pod_emulation
from orchestrator.emulation.proxy import CiliumProxy, proxy_problems, redirected_pods
from orchestrator.errors import BadInput, PermanentFailure, RuntimeFailure
from orchestrator.providers.docker import DockerEngine
from orchestrator.providers.docker_cli import ComposeStack, DockerCli
from orchestrator.render.artifacts import COMPOSE_FILE, read_rendered
from orchestrator.runtimes.base import ExecResult, Flows, Instance, outside_subnets, pinned_in, resolve_pod
from orchestrator.spec.model import OWNER_LABEL, PodRef, Wait

# CRDs of the kinds emulated here: nothing to wait for, they are known from the start.
EMULATED_CRDS = {"ciliumnetworkpolicies.cilium.io", "ciliumclusterwideenvoyconfigs.cilium.io"}


class DockerRuntime:
    name = "docker"

    def __init__(self, instance: Instance, *, engine: DockerEngine | None = None, cli: DockerCli | None = None):
        self.instance = instance
        self.labels = instance.labels
        self._engine = engine
        self.cli = cli or DockerCli()
        self.network_name = instance.network.name
        self.handlers: dict[str, Callable[[dict], None]] = {
            "Namespace": lambda doc: None,  # names only; nothing to create without Kubernetes
            "Secret": lambda doc: None,  # read from the rendered manifests where a Pod or the Envoy config uses them
            "Pod": self._run_pod,
            "CiliumClusterwideEnvoyConfig": self._run_envoy,
            "CiliumNetworkPolicy": self._redirect,
        }

    @property
    def engine(self) -> DockerEngine:
        if self._engine is None:
            self._engine = DockerEngine()
        return self._engine

    @cached_property
    def docs(self) -> list[dict]:
        rendered = self.instance.rendered_files or read_rendered(self.instance.rendered)
        return rendered.docs()

    @property
    def compose(self) -> ComposeStack:
        return ComposeStack(self.instance.compose_project, self.instance.rendered / COMPOSE_FILE)

    @cached_property
    def pods(self) -> pod_emulation.PodRunner:
        return pod_emulation.PodRunner(self.engine, self.instance.name, self.labels, self.network_name)

    @cached_property
    def proxy(self) -> CiliumProxy:
        lab = self.instance.lab
        return CiliumProxy(self.engine, f"lab-{self.instance.name}-envoy", self.labels, lab.image_for("proxy") if lab else None)

    def _redirected_container(self) -> str | None:
        selected = redirected_pods(self.docs)
        return self.pods.container_name(selected[0]["metadata"]["name"]) if selected else None

    # what the machine needs, and what the lab asks for
    def requirements(self) -> list[Finding]:
        findings = docker_findings(self.cli)
        if findings[0].ok:
            compose = self.instance.rendered_files.compose() if self.instance.rendered_files else {}
            findings += network_findings(self.cli, self.instance.network, pinned_in(compose).get(self.network_name, []))
            if not self.instance.data.get("stack_up"):  # the stack's own ports are busy on a rerun
                findings += port_findings(compose)
        return findings

    def validate(self, docs: list[dict]) -> list[str]:
        lab = self.instance.require_lab()
        problems = [f"{lab.spec_file}: manifests: {doc.get('kind')} {doc['metadata']['name']}: the docker runtime does not run this kind "
                    f"(it runs {', '.join(self.handlers)}); use --runtime kind"
                    for doc in docs if doc.get("kind") not in self.handlers]
        secrets = pod_emulation.secrets_by_name(docs)
        names: dict[str, str] = {}
        for pod in (d for d in docs if d.get("kind") == "Pod"):
            problems += pod_emulation.pod_problems(pod, secrets)
            name, namespace = pod["metadata"]["name"], pod["metadata"].get("namespace", "default")
            if name in names and names[name] != namespace:
                problems.append(f"Pod {namespace}/{name}: the docker runtime names containers after pods; {names[name]}/{name} has the same name")
            names[name] = namespace
        problems += proxy_problems(docs)
        if any(d.get("kind") == "CiliumClusterwideEnvoyConfig" for d in docs) and not lab.image_for("proxy"):
            problems.append(f"{lab.spec_file}: imageRoles.proxy: the docker runtime runs CiliumClusterwideEnvoyConfigs in Envoy; name its image key")
        return problems

    # lifecycle
    def provision(self) -> None:
        """No cluster here: only the docker network kind would have created, with the lab's subnet."""
        subnet = self.instance.network.subnet
        network = ipaddress.ip_network(subnet, strict=False)
        subnets = self.engine.ensure_network(self.network_name, str(network), {**self.labels})
        pinned = pinned_in(self.instance.rendered_files.compose() if self.instance.rendered_files else {}).get(self.network_name, [])
        outside = outside_subnets(pinned, subnets)
        if outside:
            raise BadInput(f"docker network {self.network_name} has subnet(s) {', '.join(subnets) or 'none'}, which do not contain "
                           f"{', '.join(outside)}; rerun with --set network.subnet=<its IPv4 subnet>")

    def stack_up(self) -> None:
        if (self.instance.rendered / COMPOSE_FILE).is_file():
            self.instance.data["stack_up"] = True  # recorded first: a failed `up` still tears the stack down
            self.compose.up()

    def reset(self) -> list[str]:
        """Remove what the lab's apply steps made (pods, Envoy, redirect), keeping network and stack, so a
        second `up` replays every stage instead of checking a direct connection through last run's redirect."""
        removed = []
        for container in self.engine.containers(self.labels):
            if container.labels.get(pod_emulation.ROLE_LABEL) in (pod_emulation.POD_ROLE, "envoy", "client"):
                self.engine.remove(container)
                removed.append(container.name)
        return removed

    def apply(self, group: str, docs: list[dict]) -> None:
        order = list(self.handlers)
        for doc in sorted(docs, key=lambda d: order.index(d["kind"])):  # secrets before pods, config before policy
            self.handlers[doc["kind"]](doc)

    def _run_pod(self, doc: dict) -> None:
        # NET_ADMIN: the emulated CNP redirect is installed inside a redirected pod's network namespace.
        redirected = doc in redirected_pods(self.docs)
        self.pods.run(doc, pod_emulation.secrets_by_name(self.docs), cap_add=["NET_ADMIN"] if redirected else None)

    def _run_envoy(self, doc: dict) -> None:
        container = self._redirected_container()
        if container is None:
            raise BadInput(f"CiliumClusterwideEnvoyConfig {doc['metadata']['name']}: no CiliumNetworkPolicy of the lab redirects a pod to it")
        self.proxy.run_envoy(doc, self.docs, container)

    def _redirect(self, doc: dict) -> None:
        container = self._redirected_container()
        if container is not None:
            self.proxy.redirect(doc, self.docs, container)

    def wait(self, wait: Wait, kind) -> None:
        if wait.kind == "pod-ready":
            self.pods.wait_ready(wait.params["name"], wait.timeout)
        elif wait.kind == "crd-established" and wait.params["name"] in EMULATED_CRDS:
            return
        else:
            raise BadInput(f"the docker runtime cannot wait for {wait.kind} {kind.ref(wait.params)}: it has no Kubernetes API; use --runtime kind")

    def _require_running(self) -> None:
        """Every container of the lab runs, or a check cannot pass however long it waits: say which is not."""
        for container in self.engine.containers(self.labels):
            if container.status != "running":
                code = (container.attrs.get("State") or {}).get("ExitCode")
                raise PermanentFailure(f"container {container.name} is {container.status}" + (f" (exit code {code})" if code is not None else "")
                                       + f"; `lab down {self.instance.name}` and `lab up` again")

    def exec(self, pod: PodRef | None, argv: list[str]) -> ExecResult:
        name = resolve_pod(pod, self.docs)["metadata"]["name"]
        container = self.pods.container_name(name)
        if self.engine.container(container) is None:
            raise PermanentFailure(f"pod {name} (container {container}) does not exist; `lab status` shows what is up")
        self._require_running()
        if container == self._redirected_container():
            self.proxy.sample(container)  # the flows window starts before this command's traffic
        return self.pods.exec(name, argv)

    def explain(self, pod: PodRef | None, since: float) -> str:
        container = self.pods.container_name(resolve_pod(pod, self.docs)["metadata"]["name"])
        return self.proxy.explain(container, since) if container == self._redirected_container() else ""

    def flows(self, query) -> Flows:
        container = self._redirected_container()
        if container is None:
            return Flows(0, "no pod of the lab is redirected to a proxy", output="")
        self._require_running()
        return self.proxy.flows(container, query.since)

    def collect_logs(self, dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        written = []

        def save(name: str, produce) -> None:
            path = dest / name
            try:
                path.write_text(produce())
            except Exception as exc:  # one missing source must not stop the others
                path.write_text(f"unavailable: {exc}")
            written.append(path)

        save("compose.log", self.compose.logs)
        for container in self.engine.containers(self.labels):
            save(f"{container.name}.log", lambda c=container.name: self.engine.logs(c))
        redirected = self._redirected_container()
        if redirected:
            save("redirected-pod-iptables.txt", lambda: self.proxy.rules(redirected))
        return written

    def teardown(self) -> list[str]:
        """From the record alone: containers by label, the compose project by name, networks the lab made."""
        removed = []
        for container in self.engine.containers(self.labels):
            self.engine.remove(container)
            removed.append(f"container {container.name}")
        self.compose.down()
        for volume in self.engine.volumes(self.labels):
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
        # The network goes when no container uses it any more and a lab made it, whichever instance did:
        # the last instance down cleans up after the first.
        candidates = {n.name for n in self.engine.networks(self.labels)}
        shared = self.engine.network(self.network_name)
        if shared is not None and (shared.attrs.get("Labels") or {}).get(OWNER_LABEL) == "lab":
            candidates.add(self.network_name)
        for name in sorted(candidates):
            if self.engine.remove_network_if_unused(name):
                removed.append(f"network {name}")
        self.instance.data.pop("stack_up", None)
        return removed

    def access_hint(self) -> str:
        pods = [d["metadata"]["name"] for d in self.docs if d.get("kind") == "Pod"]
        return f"explore: docker exec -it {self.pods.container_name(pods[0])} sh" if pods else "explore: docker ps --filter label=" + self.instance.selector

    def status(self) -> list[dict]:
        try:
            containers = self.engine.containers(self.labels)
        except RuntimeFailure as exc:
            return [{"kind": "engine", "name": "docker", "status": exc.message.splitlines()[0][:120]}]
        return [
            {"kind": "container", "name": c.name, "status": c.status,
             "image": (c.image.tags or [c.image.short_id])[0] if c.image else "",
             "role": c.labels.get("lab.dev/role", c.labels.get("com.docker.compose.service", ""))}
            for c in containers
        ]
