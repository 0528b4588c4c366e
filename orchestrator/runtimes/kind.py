"""The kind runtime: the real lab. A kind cluster, the lab's charts by helm (each with its own waits), the
compose stack on kind's network, manifests by server-side apply, checks by exec in the lab's pods, Hubble
flows from the Cilium agent on the source pod's node.

Every external system is reached through its provider (kind, helm, docker CLI, Kubernetes API), handed in
so that contract tests can record the calls. The runtime knows no lab: charts, waits, images and the
network all come from the spec.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from functools import cached_property
from pathlib import Path

from orchestrator.diagnostics import Finding, artifact_findings, docker_findings, inotify, network_findings, platform_notes, port_findings
from orchestrator.errors import BadInput, RuntimeFailure
from orchestrator.providers.docker_cli import ComposeStack, DockerCli
from orchestrator.providers.helm import HelmCli, find_helm
from orchestrator.providers.kind import KindCli, find_kind
from orchestrator.providers.kubectl import KubectlCli, find_kubectl
from orchestrator.render.artifacts import COMPOSE_FILE, KIND_CONFIG, chart_source, chart_values_file
from orchestrator.render.images import manifest_images
from orchestrator.providers.process import ExecResult
from orchestrator.kube import apply as kube_apply
from orchestrator.runtimes.base import Instance, LogFiles
from orchestrator.render.compose import outside_subnets, pinned_in
from orchestrator.kube.objects import resolve_pod
from orchestrator.spec.model import Chart, PodRef, Wait

# Kubernetes 1.35's kubelet refuses cgroup v1 unless told otherwise (failCgroupV1, KEP-5573); kind runs kubeadm
# without its preflight, so on a cgroup v1 engine that refusal is where its nodes stop.
CGROUP_V1_PATCH = "kind: KubeletConfiguration\nfailCgroupV1: false\n"
CGROUP_V1_NOTE = ("Kubernetes 1.35's kubelet refuses cgroup v1 by default; `lab up` tells kind's kubelets to run on it "
                  "(failCgroupV1: false). Kubernetes is leaving cgroup v1: a host on cgroup v2 avoids this")
KIND_MIN_CPUS = 2
KIND_MIN_MEMORY = 4 * 1024**3
NODE_PKI = "/etc/kubernetes/pki"  # kubeadm's, on kind's control-plane node


def kubectl_version() -> str | None:
    """`kubectl version --client`'s version, or None when kubectl does not answer."""
    from orchestrator.providers import process

    kubectl = find_kubectl()
    if kubectl is None:
        return None
    result = process.run([kubectl, "version", "--client", "-o", "json"], check=False, timeout=30)
    if result.returncode != 0:
        return None
    try:
        return json.loads(result.stdout)["clientVersion"]["gitVersion"]
    except (ValueError, KeyError, TypeError):
        return result.stdout.strip().splitlines()[0][:80] if result.stdout.strip() else None


def docker_platform() -> str:
    machine = platform.machine().lower()
    return "linux/arm64" if machine in ("arm64", "aarch64") else "linux/amd64"


def _cilium_network(host):
    from orchestrator.network.registry import default_networks

    return default_networks().make("cilium", host)


class KindRuntime:
    name = "kind"

    def __init__(self, instance: Instance, *, kind: KindCli | None = None, helm: HelmCli | None = None, docker: DockerCli | None = None,
                 kube_factory=None, network=None):
        self.instance = instance
        self.kubeconfig = instance.state_dir / "kubeconfig"
        self.kind = kind or KindCli()
        self.helm = helm or HelmCli()
        self.docker = docker or DockerCli()
        self._kube_factory = kube_factory
        self._kube = None
        self.cluster_name = instance.name
        self.network = (network or _cilium_network)(self)  # real Cilium from the lab's chart, asked through its agents

    @cached_property
    def docs(self) -> list[dict]:
        return self.instance.rendered_set().docs()

    @property
    def kube(self):
        if self._kube is None:
            if self._kube_factory is None:
                from orchestrator.providers.kube import KubeApi

                self._kube_factory = KubeApi
            self._kube = self._kube_factory(self.kubeconfig)
        return self._kube

    @property
    def compose(self) -> ComposeStack:
        return ComposeStack(self.instance.compose_project, self.instance.rendered / COMPOSE_FILE)

    def _timeout(self, default: float) -> float:
        """LAB_TIMEOUT_CHARTS stretches every chart wait (a slow laptop, a cold image cache)."""
        return float(os.environ.get("LAB_TIMEOUT_CHARTS", default))

    # what the machine needs, and what the lab asks for
    def requirements(self) -> list[Finding]:
        lab = self.instance.lab
        findings = docker_findings(self.docker, stack=self.instance.has_stack)
        if findings[0].ok:
            resources = self.docker.resources()
            if resources:
                cpus, memory = resources
                findings.append(Finding("docker resources", cpus >= KIND_MIN_CPUS and memory >= KIND_MIN_MEMORY, f"{cpus} CPUs, {memory / 1024**3:.1f} GiB",
                                        f"give Docker at least {KIND_MIN_CPUS} CPUs and {KIND_MIN_MEMORY // 1024**3} GiB", blocking=False))
            if self._cgroup_v1:
                findings.append(Finding("cgroup version", False, "the Docker engine runs cgroup v1", CGROUP_V1_NOTE, blocking=False))
        wanted = lab.versions.get("kind", "") if lab else ""
        for tool, find, version, fix, blocking in (
                ("kind", find_kind, self.kind.version, f"install kind {wanted}".strip(), True),
                ("helm", find_helm, self.helm.version, "install helm 3 (https://helm.sh/docs/intro/install/)", bool(lab and lab.charts)),
                ("kubectl", find_kubectl, kubectl_version, "install kubectl, or `make images`, which builds it (to explore the cluster yourself)", False)):
            found = version() if find() else None
            findings.append(Finding(tool, found is not None, found or "missing", fix, blocking=blocking))
        findings += inotify() + platform_notes()
        if lab:
            findings += artifact_findings(lab, [c.artifact for c in lab.charts if c.artifact])
        if findings[0].ok:
            compose = self.instance.rendered_set().compose()
            pinned = pinned_in(compose).get(self.instance.network.name, [])
            findings += network_findings(self.docker, self.instance.network, pinned, self._probe_image(compose))
            if not self.instance.data.get("created_cluster"):
                findings += port_findings(compose)
        return findings

    def _probe_image(self, compose: dict) -> str | None:
        """An image already here to test a fixed address with (the stack's own), or None: no pull for a probe."""
        for service in (compose.get("services") or {}).values():
            image = service.get("image")
            if image and self.docker.image_present(image):
                return image
        return None

    def validate(self, docs: list[dict]) -> list[str]:
        return []  # the API server is the judge of the manifests

    # lifecycle
    def provision(self) -> None:
        lab = self.instance.require_lab()
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        self._ensure_network()
        if self.cluster_name in self.kind.clusters():
            if self.instance.data.get("created_cluster") != self.cluster_name:
                raise BadInput(f"a kind cluster named {self.cluster_name} exists that this lab instance did not make; `lab` never "
                               "uses or deletes it: choose another --instance, or `kind delete cluster --name "
                               f"{self.cluster_name}` yourself if it is yours to remove")
            self.kind.export_kubeconfig(self.cluster_name, self.kubeconfig)  # converge: reuse the cluster it made
        else:
            self.instance.data["created_cluster"] = self.cluster_name  # recorded first: a failed create is still deleted
            self.kind.create(self.cluster_name, self._kind_config(), self.kubeconfig, self.instance.network.name)
        os.chmod(self.kubeconfig, 0o600)
        self._sideload_images()
        for chart in lab.charts:
            self.helm.upgrade_install(release=chart.release, chart=chart_source(lab, chart), namespace=chart.namespace,
                                      values=self.instance.rendered / chart_values_file(chart), kubeconfig=self.kubeconfig)
        self.kube.wait_nodes_ready(self._timeout(600))
        for chart in lab.charts:
            self._chart_ready(chart)

    @cached_property
    def _cgroup_v1(self) -> bool:
        return self.docker.cgroup_version() == "1"

    def _kind_config(self) -> Path:
        """The rendered kind config; on a cgroup v1 engine, a copy in the instance's state whose kubelets run there."""
        rendered = self.instance.rendered / KIND_CONFIG
        if not self._cgroup_v1:
            return rendered
        import yaml

        from orchestrator.files import write_atomic
        from orchestrator.spec.yamlio import read_yaml

        config = read_yaml(rendered, "rendered kind config")
        config["kubeadmConfigPatches"] = [*(config.get("kubeadmConfigPatches") or []), CGROUP_V1_PATCH]
        path = self.instance.state_dir / "kind-config.yaml"
        write_atomic(path, yaml.safe_dump(config, sort_keys=False).encode(), 0o600)
        return path

    def _chart_ready(self, chart: Chart) -> None:
        from orchestrator.kube.waits import default_waits

        waits = default_waits()
        for wait in chart.waits:
            kube_apply.wait(self.kube, Wait(wait.kind, wait.params, self._timeout(wait.timeout)), waits.get(wait.kind))

    def upgrade(self, chart: Chart, values: Path) -> None:
        """As a user upgrades a release with more values: the chart's own values file, then the step's over it."""
        self.helm.upgrade_install(release=chart.release, chart=chart_source(self.instance.require_lab(), chart), namespace=chart.namespace,
                                  values=[self.instance.rendered / chart_values_file(chart), values], kubeconfig=self.kubeconfig)
        self._chart_ready(chart)

    def _ensure_network(self) -> None:
        """kind creates its network without an IPv4 subnet, where Docker refuses the stack's fixed addresses; so
        the network is created first, with the lab's subnet (kind reuses a network of that name)."""
        import ipaddress

        network = self.instance.network
        if self.docker.network_subnets(network.name) is not None:
            return
        subnet = ipaddress.ip_network(network.subnet, strict=False)
        self.docker.create_network(network.name, str(subnet), str(subnet[1]), dict(self.instance.labels))
        self.instance.data["created_network"] = network.name

    def _sideload_images(self) -> None:
        """Images of the lab's pods already in the local Docker go into the nodes: a workshop on bad Wi-Fi
        needs no pull. The node image is the cluster itself; stack and proxy images never run in it."""
        lab = self.instance.require_lab()
        wanted = [image for _key, image in lab.images_outside_roles()]
        for chart in lab.charts:  # every image the rendered chart runs (with the lab's values), e.g. Cilium's own
            text = self.helm.template(release=chart.release, chart=chart_source(lab, chart), namespace=chart.namespace,
                                      values=self.instance.rendered / chart_values_file(chart), kube_version=lab.versions.get("kubernetes"))
            wanted += [image for image in manifest_images(text) if image not in wanted]
        for image in wanted:
            if not self.docker.image_present(image):
                continue
            try:
                self.kind.load_image(self.cluster_name, image)
            except RuntimeFailure:
                # Docker's containerd image store breaks `kind load docker-image`; an archive of one platform works.
                with tempfile.TemporaryDirectory(prefix="lab-image-") as tmp:
                    archive = Path(tmp) / "image.tar"
                    self.docker.save([image], archive, docker_platform())
                    self.kind.load_archive(self.cluster_name, archive)

    def stack_up(self) -> None:
        if not self.instance.has_stack:
            return
        network = self.instance.network.name
        subnets = self.docker.network_subnets(network)
        if subnets is None:
            raise RuntimeFailure(f"docker network {network} does not exist; kind creates it with the cluster")
        compose = self.instance.rendered_set().compose()
        outside = outside_subnets(pinned_in(compose).get(network, []), subnets)
        if outside:
            raise BadInput(f"{', '.join(outside)} pinned by the stack is not inside the {network} network ({', '.join(subnets)}); "
                           "rerun with --set network.subnet=<its IPv4 subnet>")
        self.compose.up()

    def reset(self) -> list[str]:
        """Delete the lab's objects of a previous run (policy before the config it points at) and wait until
        they are gone: a Pod still terminating cannot be created again. Namespaces stay: deleting one is slow
        and re-applying it while it terminates fails."""
        return self.network.reset() + kube_apply.reset(self.kube, self.docs, self.instance.selector,
                                                        float(os.environ.get("LAB_TIMEOUT_DELETE", 120)))

    def apply(self, group: str, docs: list[dict]) -> None:
        for doc in docs:
            self.kube.apply(doc)
        self.network.reconcile(docs)


    @property
    def _control_plane_node(self) -> str:
        return f"{self.cluster_name}-control-plane"  # kind's name for it

    def health(self) -> list[str]:
        """Each of the cluster's node containers that is not running (kind labels them with the cluster's name)."""
        return [f"kind node {name} is {state}; {self.instance.up_command} starts it again (or `docker start {name}`)"
                for name, state in self.docker.states(f"io.x-k8s.kind.cluster={self.cluster_name}") if state != "running"]

    def shell_env(self) -> dict[str, str]:
        return self.instance.shell_env()  # the cluster CA stays on the node: `docker exec` reads it there

    def cluster_ca(self) -> tuple[bytes, bytes]:
        """kubeadm's cluster CA on the control-plane node (the seed signs with /etc/kubernetes/pki/ca.key)."""
        read = lambda name: self.docker.exec_output(self._control_plane_node, ["cat", f"{NODE_PKI}/{name}"]).encode()  # noqa: E731
        return read("ca.crt"), read("ca.key")

    def cluster_certificates(self) -> tuple[list[tuple[str, bytes]], str]:
        """Every certificate under the node's /etc/kubernetes/pki, and `kubeadm certs check-expiration`."""
        node = self._control_plane_node
        listing = self.docker.exec_output(node, ["find", NODE_PKI, "-name", "*.crt"]).split()
        certs = [(path[len(NODE_PKI) + 1:-len(".crt")], self.docker.exec_output(node, ["cat", path]).encode()) for path in sorted(listing)]
        return certs, self.docker.exec_output(node, ["kubeadm", "certs", "check-expiration"], timeout=120)

    def find_pod(self, pod: PodRef | None) -> tuple[str, str]:
        """(namespace, name) of a pod of the lab's manifests (by name, labels, or the lab's only pod)."""
        doc = resolve_pod(pod, self.docs)
        return doc["metadata"].get("namespace", "default"), doc["metadata"]["name"]

    def exec(self, pod: PodRef | None, argv: list[str]) -> ExecResult:
        namespace, name = self.find_pod(pod)
        return ExecResult(*self.kube.exec(namespace, name, argv))

    def attach_argv(self, namespace: str, pod: str, argv: list[str], tty: bool) -> list[str]:
        return KubectlCli(self.kubeconfig).attach_argv(namespace, pod, argv, tty)

    def logs_argv(self, namespace: str, pod: str, follow: bool, tail: int | None) -> list[str]:
        return KubectlCli(self.kubeconfig).logs_argv(namespace, pod, follow, tail)

    def collect_logs(self, dest: Path) -> list[Path]:
        save = LogFiles(dest)
        written = save.written
        save("compose.log", self.compose.logs)
        for doc in (d for d in self.docs if d.get("kind") == "Pod"):
            namespace, name = doc["metadata"].get("namespace", "default"), doc["metadata"]["name"]
            save(f"pod-{namespace}-{name}.log", lambda n=namespace, p=name: self.kube.logs(n, p))
        self.network.collect(save)
        if os.environ.get("LAB_KIND_EXPORT_LOGS") == "1":
            self.kind.export_logs(self.cluster_name, dest / "kind")
        return written

    def teardown(self) -> list[str]:
        """From the record alone: the compose project by name, the cluster by the instance's name."""
        removed = []
        self.compose.down(self.instance.labels)  # by project name (its containers proven ours): works without the rendered files
        removed.append(f"compose project {self.instance.compose_project}")
        if self.instance.data.get("created_cluster") == self.cluster_name and self.cluster_name in self.kind.clusters():
            self.kind.delete(self.cluster_name, self.kubeconfig)  # only the cluster this instance made
            removed.append(f"kind cluster {self.cluster_name}")
        network = self.instance.data.get("created_network")
        if network and self.docker.remove_network(network, self.instance.labels):  # refused while another cluster still uses it
            removed.append(f"network {network}")
        self.kubeconfig.unlink(missing_ok=True)
        for key in ("created_cluster", "created_network"):
            self.instance.data.pop(key, None)
        return removed

    def access_hint(self) -> str:
        pods = [d for d in self.docs if d.get("kind") == "Pod"]
        hint = f"explore: export KUBECONFIG={self.kubeconfig}"
        if pods:
            hint += f"; kubectl -n {pods[0]['metadata'].get('namespace', 'default')} exec -it {pods[0]['metadata']['name']} -- sh"
        return hint

    def status(self) -> list[dict]:
        up = self.cluster_name in self.kind.clusters()
        return [{"kind": "cluster", "name": self.cluster_name, "status": "running" if up else "absent", "image": "", "role": "kind"}]
