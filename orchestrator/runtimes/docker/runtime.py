"""The docker runtime: a real Kubernetes control plane in containers, a node that runs pods as containers,
and Cilium's L7 proxy emulated.

The lab's network is created as kind would have it; etcd, kube-apiserver, kube-controller-manager and
kube-scheduler run on it (emulation/control_plane.py); a node agent registers a Node and runs the pods the
scheduler binds to it (emulation/node.py). Manifests go to the API server by server-side apply, as in the
kind runtime; the lab's Cilium CRDs (real ones, from the lab's pinned artifacts) are registered first so the
API server judges Cilium objects. The CiliumClusterwideEnvoyConfig and CiliumNetworkPolicy are read back
from the API server, as Cilium would: a real Envoy runs the CCEC in the redirected pod's network namespace
and the policy's listener redirect is an iptables rule there (emulation/proxy.py).
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import cached_property
from pathlib import Path

from orchestrator.diagnostics import Finding, artifact_findings, docker_findings, network_findings, port_findings
from orchestrator import shellenv
from orchestrator.runtimes.docker.control_plane import CLUSTER_PKI, ControlPlane, free_port
from orchestrator.runtimes.docker.crds import EmulatedCrds
from orchestrator.runtimes.docker.health import require_running, unwell_parts
from orchestrator.runtimes.docker.node_agent import NodeAgent
from orchestrator.errors import BadInput, MissingPrerequisite, PermanentFailure, RuntimeFailure
from orchestrator.files import read_tail
from orchestrator.providers.docker import DockerEngine, connect_in_background, networks_guard
from orchestrator.providers.docker_cli import ComposeStack, DockerCli
from orchestrator.providers.helm import HelmCli
from orchestrator.render.artifacts import COMPOSE_FILE, chart_source, chart_values_file
from orchestrator.kube import apply as kubernetes
from orchestrator.providers.process import ExecResult
from orchestrator.runtimes.base import Instance, LogFiles
from orchestrator.render.compose import outside_subnets, pinned_in
from orchestrator.spec.model import OWNER_LABEL, Chart, PodRef, Wait
from orchestrator.spec.yamlio import load_all

CONTROL_PLANE_ROLES = {"etcd": "etcd", "apiserver": "kube-apiserver", "controllerManager": "kube-controller-manager",
                       "scheduler": "kube-scheduler"}
NODE_READY_TIMEOUT = 60.0


def _emulated_network(host):
    from orchestrator.network.registry import default_networks

    return default_networks().make("emulated-cilium", host)


def _wait_node_ready(kube, instance: str) -> None:
    """Until the node agent's Node is Ready (it registers once the API server serves)."""
    from orchestrator.kube.waits import ObjectRef, WaitKind, _condition_ready

    node = WaitKind("node-ready", {}, (), lambda p: ObjectRef("v1", "Node", f"{instance}-node"), _condition_ready("Ready"),
                    lambda p: "condition=Ready", "the lab's node is Ready")
    kubernetes.wait(kube, Wait("node-ready", {}, NODE_READY_TIMEOUT), node)


class DockerRuntime:
    name = "docker"

    def __init__(self, instance: Instance, *, engine: DockerEngine | None = None, cli: DockerCli | None = None, kube_factory=None,
                 helm: HelmCli | None = None, network=None):
        self.instance = instance
        self.helm = helm or HelmCli()  # renders a chart whose emulated objects the lab applies (Cilium's cannot run)
        self.labels = instance.labels
        self._engine = engine
        self._engine_ahead: Future | None = None  # the SDK's client being made while the preflight's CLI probes run
        self.cli = cli or DockerCli()
        self.network_name = instance.network.name
        self._kube_factory = kube_factory
        self._kube = None
        self.kubeconfig = instance.state_dir / "kubeconfig"
        self.crds = EmulatedCrds(lambda: self.kube)  # the CRDs the lab's charts would have installed
        self.network = (network or _emulated_network)(self)  # Cilium emulated from the API (network/emulated)

    @property
    def engine(self) -> DockerEngine:
        if self._engine is None:  # the client made beside the preflight (its error raised here, as if made here), or now
            ahead, self._engine_ahead = self._engine_ahead, None
            self._engine = ahead.result() if ahead is not None else DockerEngine()
        return self._engine

    @property
    def kube(self):
        if self._kube is None:
            if not self.kubeconfig.is_file():
                raise PermanentFailure(f"instance {self.instance.name} has no cluster (no {self.kubeconfig}); `lab up` it first")
            if self._kube_factory is None:
                from orchestrator.providers.kube import KubeApi

                self._kube_factory = KubeApi
            self._kube = self._kube_factory(self.kubeconfig)
        return self._kube

    @cached_property
    def docs(self) -> list[dict]:
        return self.instance.rendered_set().docs()

    @cached_property
    def compose_doc(self) -> dict:
        """The rendered compose file, parsed once: every exec checks the stack's containers against it."""
        return self.instance.rendered_set().compose()

    @property
    def compose(self) -> ComposeStack:
        return ComposeStack(self.instance.compose_project, self.instance.rendered / COMPOSE_FILE)

    @cached_property
    def control_plane(self) -> ControlPlane:
        lab = self.instance.lab
        images = {component: lab.image_for(role) for role, component in CONTROL_PLANE_ROLES.items()} if lab else {}
        if lab and "api_port" not in self.instance.data:  # chosen when the cluster is first made (`up`), then kept
            self.instance.data["api_port"] = free_port()
        return ControlPlane(self.engine, self.instance.name, self.network_name, self.labels, images, self.instance.state_dir,
                            self.instance.data.get("api_port"))

    def pod_container(self, name: str) -> str:
        return f"lab-{self.instance.name}-{name}"  # as the node agent names them

    # what the machine needs, and what the lab asks for
    def requirements(self) -> list[Finding]:
        if self._engine is None and self._engine_ahead is None:  # what provision needs first, made beside the CLI probes
            self._engine_ahead = connect_in_background()
        findings = docker_findings(self.cli, stack=self.instance.has_stack)
        if findings[0].ok:
            compose = self.compose_doc
            findings += network_findings(self.cli, self.instance.network, pinned_in(compose).get(self.network_name, []))
            if not self.instance.data.get("stack_up"):  # the stack's own ports are busy on a rerun
                findings += port_findings(compose)
        lab = self.instance.lab
        findings += artifact_findings(lab, lab.emulated_crds) if lab else []
        rendered = [c for c in (lab.charts if lab else ()) if c.emulate]
        if rendered:  # helm renders the charts whose objects the runtime applies
            try:
                findings.append(Finding("helm", True, self.helm.version(), ""))
            except MissingPrerequisite as exc:
                findings.append(Finding("helm", False, "missing", exc.hint or ""))
            findings += artifact_findings(lab, [c.artifact for c in rendered if c.artifact])
        return findings

    def validate(self, docs: list[dict]) -> list[str]:
        """What the emulation cannot do, before anything runs; the manifests themselves are the API server's to judge."""
        lab = self.instance.require_lab()
        problems = [f"{lab.spec_file}: imageRoles.{role}: the docker runtime runs {component} from this image; name its image key"
                    for role, component in CONTROL_PLANE_ROLES.items() if not lab.image_for(role)]
        return problems + self.network.validate(docs)

    # lifecycle
    def provision(self) -> None:
        """The network kind would have made, a control plane on it, the lab's emulated CRDs, and the node."""
        lab = self.instance.require_lab()
        network = ipaddress.ip_network(self.instance.network.subnet, strict=False)
        with networks_guard(exclusive=False):  # until its first containers run, another instance's down must not remove it
            subnets = self.engine.ensure_network(self.network_name, str(network), {**self.labels})
            pinned = pinned_in(self.compose_doc).get(self.network_name, [])
            outside = outside_subnets(pinned, subnets)
            if outside:
                raise BadInput(f"docker network {self.network_name} has subnet(s) {', '.join(subnets) or 'none'}, which do not contain "
                               f"{', '.join(outside)}; rerun with --set network.subnet=<its IPv4 subnet>")
            self.instance.data["control_plane"] = True  # recorded first: a failed start is still torn down
            # A new cluster holds nothing of an earlier run to reset; one whose etcd's data is kept may.
            self._fresh = not self.control_plane.holds_cluster()
            self.control_plane.start_api_containers()
        # The API server's boot is the longest wait: its containers are started first, with Docker to themselves
        # (every other container made or started at once slows both starts). While it boots (seconds): the node
        # agent's start (it registers once the API is ready), the controllers' containers, the Kubernetes client's
        # import and the emulated CRDs' parsing. Once the API server serves, its CPU-heavy start over: the compose
        # stack (it needs only the network; `stack_up` collects its outcome; started earlier, its containers
        # slowed the boot by about 0.3 s) and the CRDs, which the server takes at their path before its discovery
        # lists them (registered after readiness, they kept it busy while the controller-manager starts). Once
        # the API is ready, the controllers start.
        background = ThreadPoolExecutor(4)
        self._stack_started = None
        crds = background.submit(self.crds.documents, lab)
        # The client modules applying and waiting use, off the critical path while the API server boots. Not the
        # typed core API: this runtime execs through Docker, and that import is most of a second of CPU, which the
        # booting API server needs on a small machine.
        warm = background.submit(lambda: [importlib.import_module(m) for m in ("kubernetes.client", "kubernetes.config", "kubernetes.dynamic")])
        created = background.submit(self.control_plane.create_controllers)
        started = [warm, crds, created]
        booted = threading.Event()  # set when the API server is ready, or `up` failed: the CRDs' retries end
        crds_applied: Future | None = None  # submitted once the API server serves (wait_api runs serving() first)

        def serving() -> None:
            nonlocal crds_applied
            self._stack_started = self._start_stack(background)
            crds_applied = background.submit(lambda: self.crds.apply(crds.result(), booted))
            started.extend(f for f in (self._stack_started, crds_applied) if f)

        try:
            self.node_agent.start()  # it waits for the API server itself, its imports done by then
            self.control_plane.wait_api(on_serving=serving)
            booted.set()
            controllers = background.submit(lambda: (created.result(), self.control_plane.start_controllers()))
            started.append(controllers)
            crds_applied.result()
            self.crds.register(crds.result(), self.instance.rendered_set().emulated_docs())
            controllers.result()
            _wait_node_ready(self.kube, self.instance.name)
            for chart in lab.charts:
                _apply_chart(self, chart, [self.instance.rendered / chart_values_file(chart)])
        except BaseException:
            booted.set()
            wait(started)  # nothing still starting when teardown looks for what to remove
            raise
        finally:
            background.shutdown(wait=False)

    def _start_stack(self, pool: ThreadPoolExecutor) -> Future | None:
        if not self.instance.has_stack:
            return None
        self.instance.data["stack_up"] = True  # recorded first: a failed `up` still tears the stack down
        return pool.submit(self.compose.up)

    @cached_property
    def node_agent(self) -> NodeAgent:
        return NodeAgent(self.instance, self.kubeconfig, self.network_name, self.control_plane.api_host, _cilium_images(self))

    def network_image(self, role: str) -> str | None:
        """The image the lab names for a role of its network's emulation (proxy, datapath)."""
        lab = self.instance.lab
        return lab.image_for(role) if lab else None

    def stack_up(self) -> None:
        started = getattr(self, "_stack_started", None)
        if started is not None:
            started.result()  # compose's failure, raised here as it would have been
        elif self.instance.has_stack:
            self.instance.data["stack_up"] = True  # recorded first: a failed `up` still tears the stack down
            self.compose.up()

    def reset(self) -> list[str]:
        """Delete the objects a previous run's steps made (and Envoy, which follows them), keeping the cluster
        and the stack, so a second `up` replays every stage."""
        with self.network.holding():  # the agent's loop waits until the objects are gone, then follows that
            removed = self.network.reset()
            if getattr(self, "_fresh", False):
                return removed
            self.crds.join_for(self.docs)
            return removed + kubernetes.reset(self.kube, self.docs, self.instance.selector, float(os.environ.get("LAB_TIMEOUT_DELETE", 120)))

    def upgrade(self, chart: Chart, values: Path) -> None:
        """Cilium's pods cannot run here: of the chart rendered with the step's values over its own (the real
        `helm template`), what the lab says the runtime emulates (e.g. cert-manager Certificates) is applied."""
        _apply_chart(self, chart, [self.instance.rendered / chart_values_file(chart), values])

    def apply(self, group: str, docs: list[dict]) -> None:
        self.crds.join_for(docs)
        with self.network.holding():  # the agent's loop follows the group once, whole
            for doc in docs:
                self.kube.apply(doc)
            self.network.reconcile(docs)

    def shell_env(self) -> dict[str, str]:
        """The control plane's PKI is a folder of the instance here (the node's /etc/kubernetes/pki on kind)."""
        return {**self.instance.shell_env(), shellenv.CLUSTER_PKI: str(self.instance.state_dir / CLUSTER_PKI)}

    def cluster_ca(self) -> tuple[bytes, bytes]:
        return self.control_plane.pki.read("ca.crt"), self.control_plane.pki.read("ca.key")

    def cluster_certificates(self) -> tuple[list[tuple[str, bytes]], str]:
        """The PKI this runtime made for its control plane, laid out as kubeadm does."""
        names = ["ca", "apiserver", "admin", "controller-manager", "scheduler"]
        return [(name, self.control_plane.pki.read(f"{name}.crt")) for name in names], ""

    def find_pod(self, pod: PodRef | None) -> tuple[str, str]:
        """(namespace, name) of a pod of the lab (by name, labels, or the lab's only pod)."""
        return kubernetes.find_pod(self.kube, pod, self.docs)

    def health(self) -> list[str]:
        """Each part of the instance that is not running (containers, the compose stack, the node agent), with the
        command that heals it; judged outside the network agent's rebuilds (a part it replaces is not down)."""
        with self.network.holding():
            return unwell_parts(self.engine, self.labels, self.compose_doc, self.instance, self.node_agent.running())

    def require_running(self) -> None:
        """Every part of the lab runs, or a check cannot pass however long it waits: say which does not."""
        require_running(self.engine, self.labels, self.compose_doc, self.instance)

    def exec(self, pod: PodRef | None, argv: list[str]) -> ExecResult:
        namespace, name = kubernetes.find_pod(self.kube, pod, self.docs)
        container = self.pod_container(name)
        if self.engine.container(container) is None:
            raise PermanentFailure(f"pod {namespace}/{name} (container {container}) does not exist; `lab status` shows what is up")
        self.network.before_exec(container)
        self.require_running()
        return self.engine.exec(container, argv)

    def attach_argv(self, namespace: str, pod: str, argv: list[str], tty: bool) -> list[str]:
        """`docker exec` into the pod's container (the node agent runs each pod as one); Envoy's redirect is set up
        first, as for a check, so what a person types goes the way the lab's traffic does."""
        container = self.pod_container(pod)
        if self.engine.container(container) is None:
            raise PermanentFailure(f"pod {namespace}/{pod} (container {container}) does not exist; `lab status` shows what is up")
        self.network.before_exec(container)
        return DockerCli.attach_argv(container, argv, tty)

    def logs_argv(self, namespace: str, pod: str, follow: bool, tail: int | None) -> list[str]:
        return DockerCli.logs_argv(self.pod_container(pod), follow, tail)

    def collect_logs(self, dest: Path) -> list[Path]:
        save = LogFiles(dest)
        written = save.written
        save("compose.log", self.compose.logs)
        for container in self.engine.containers(self.labels):
            save(f"{container.name}.log", lambda c=container.name: self.engine.logs(c))
        node_log = self.instance.state_dir / "node.log"
        if node_log.is_file():
            save("node.log", lambda: read_tail(node_log, "node agent log", 200_000))
        if self.kubeconfig.is_file():
            save("pods.json", lambda: json.dumps(self.kube.list("v1", "Pod"), indent=2, default=str))
            save("events.json", lambda: json.dumps(self.kube.list("v1", "Event"), indent=2, default=str)[-200_000:])
        self.network.collect(save)
        return written

    def teardown(self) -> list[str]:
        """From the record alone: the node agent by its pid, containers by label, the compose project by
        name, networks the lab made."""
        removed = ["node agent"] if self.node_agent.stop() else []
        for container in self.engine.containers(self.labels):
            self.engine.remove(container, self.labels)
            removed.append(f"container {container.name}")
        self.compose.down(self.labels)
        for volume in self.engine.volumes(self.labels):
            self.engine.remove_volume(volume, self.labels)
            removed.append(f"volume {volume.name}")
        # The network goes when no container uses it and a lab made it (any instance): the last one down removes it.
        candidates = {n.name for n in self.engine.networks(self.labels)}
        shared = self.engine.network(self.network_name)
        if shared is not None and (shared.attrs.get("Labels") or {}).get(OWNER_LABEL) == "lab":
            candidates.add(self.network_name)
        with networks_guard(exclusive=True):
            for name in sorted(candidates):
                if self.engine.remove_network_if_unused(name):
                    removed.append(f"network {name}")
        for key in ("stack_up", "control_plane", "node_pid"):
            self.instance.data.pop(key, None)
        self.network.forget()
        return removed

    def access_hint(self) -> str:
        return f"explore: export KUBECONFIG={self.kubeconfig}; kubectl get pods -A   (or `lab kubeconfig {self.instance.name}`)"

    def status(self) -> list[dict]:
        try:
            containers = self.engine.containers(self.labels)
        except RuntimeFailure as exc:
            return [{"kind": "engine", "name": "docker", "status": exc.message.splitlines()[0][:120]}]
        rows = [{"kind": "container", "name": c.name, "status": c.status,
                 "image": (c.image.tags or [c.image.short_id])[0] if c.image else "",
                 "role": c.labels.get("lab.dev/role", c.labels.get("com.docker.compose.service", ""))} for c in containers]
        rows.append({"kind": "process", "name": "node agent", "status": "running" if self.node_agent.running() else "absent", "image": "", "role": "node"})
        return rows


def _cilium_images(runtime: DockerRuntime) -> dict[str, str] | None:
    """When the lab has Cilium objects, the node also runs Cilium's agent loop (the emulation follows the API), with
    the images the lab names for the network's roles; None otherwise (or with no lab loaded: `down`, `status`)."""
    if runtime.instance.lab is None or not any(str(d.get("apiVersion", "")).startswith("cilium.io/") for d in runtime.docs):
        return None
    return {role: image for role in ("proxy", "datapath") if (image := runtime.network_image(role))}


def _apply_chart(runtime: DockerRuntime, chart: Chart, values: list[Path]) -> None:
    """Of the chart rendered by the real `helm template` with these values, what the lab says the runtime
    emulates (chart.emulate, e.g. cert-manager Certificates), applied with the lab's labels."""
    if not chart.emulate:
        return
    lab = runtime.instance.require_lab()
    text = runtime.helm.template(release=chart.release, chart=chart_source(lab, chart), namespace=chart.namespace, values=values,
                                 kube_version=lab.versions.get("kubernetes"))
    docs = [doc for doc in load_all(text) if isinstance(doc, dict) and (doc.get("apiVersion"), doc.get("kind")) in chart.emulate]
    runtime.crds.join_for(docs)
    for doc in docs:
        metadata = doc.setdefault("metadata", {})
        metadata.setdefault("namespace", chart.namespace)
        metadata["labels"] = {**(metadata.get("labels") or {}), **lab.owner_labels()}  # `down` and reset find them
        runtime.kube.apply(doc)
