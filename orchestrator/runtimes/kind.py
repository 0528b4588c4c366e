"""The kind runtime: the real lab. kind cluster, Cilium by helm, the compose stack on kind's network,
manifests by server-side apply, checks by exec in the client pod, Hubble flows from the Cilium agent.

Every external system is reached through its provider (kind, helm, docker CLI, Kubernetes API), handed in
so that contract tests can record the calls.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from functools import cached_property
from pathlib import Path

from orchestrator.errors import BadInput, RuntimeFailure
from orchestrator.providers.docker_cli import ComposeStack, DockerCli
from orchestrator.providers.helm import HelmCli
from orchestrator.providers.kind import KindCli
from orchestrator.render.artifacts import CILIUM_VALUES, COMPOSE_FILE, KIND_CONFIG, group_files
from orchestrator.runtimes.base import Flows, client_pod, load_docs, outside_subnets, pinned_addresses, rendered_docs
from orchestrator.spec import Lab
from orchestrator.spec.model import INSTANCE_LABEL

CILIUM_NAMESPACE = "kube-system"
# What "Cilium is ready" means for the lab: agent and Envoy on every node, operator, Hubble Relay.
CILIUM_ROLLOUTS = [("DaemonSet", "cilium"), ("DaemonSet", "cilium-envoy"), ("Deployment", "cilium-operator"), ("Deployment", "hubble-relay")]
CILIUM_CRDS = ["ciliumnetworkpolicies.cilium.io", "ciliumclusterwideenvoyconfigs.cilium.io"]
SIDELOAD_SKIP = {"kindNode"}  # the node image is the cluster itself


def docker_platform() -> str:
    machine = platform.machine().lower()
    return "linux/arm64" if machine in ("arm64", "aarch64") else "linux/amd64"


class KindRuntime:
    name = "kind"

    def __init__(self, lab: Lab, rendered: Path, state: dict, state_dir: Path, *, kind=None, helm=None, docker=None, kube_factory=None):
        self.lab = lab
        self.rendered = rendered
        self.state = state
        self.kubeconfig = state_dir / "kubeconfig"
        self.kind = kind or KindCli()
        self.helm = helm or HelmCli()
        self.docker = docker or DockerCli()
        self._kube_factory = kube_factory
        self._kube = None
        self.cluster_name = lab.instance
        self.labels = lab.owner_labels()
        self.selector = f"{INSTANCE_LABEL}={lab.instance}"

    @cached_property
    def docs(self) -> list[dict]:
        """The rendered manifests, read once per command (after `up` has rendered them)."""
        return rendered_docs(self.rendered)

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
        return ComposeStack(f"lab-{self.lab.instance}", self.rendered / COMPOSE_FILE)

    def wait_timeout(self, key: str, default: float) -> float:
        return float(os.environ.get(f"LAB_TIMEOUT_{key.upper()}", default))

    # lifecycle
    def preflight(self) -> None:
        from orchestrator.doctor import require

        require(self.lab, self.name, lab_is_up=self.state.get("created_cluster") is not None)

    def create_cluster(self) -> None:
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        if self.cluster_name in self.kind.clusters():
            self.kind.export_kubeconfig(self.cluster_name, self.kubeconfig)  # converge: reuse the cluster
        else:
            self.kind.create(self.cluster_name, self.rendered / KIND_CONFIG, self.kubeconfig)
            self.state["created_cluster"] = self.cluster_name
        os.chmod(self.kubeconfig, 0o600)
        self._sideload_images()
        chart = self.lab.cluster["chart"]
        self.helm.upgrade_install(
            release=chart.get("release", "cilium"), chart=chart["name"], version=chart["version"],
            namespace=chart.get("namespace", CILIUM_NAMESPACE), values=self.rendered / CILIUM_VALUES,
            kubeconfig=self.kubeconfig, repo=chart.get("repo"),
        )
        timeout = self.wait_timeout("cilium", 600)
        self.kube.wait_nodes_ready(timeout)
        for kind, name in CILIUM_ROLLOUTS:
            self.kube.wait_rollout(kind, chart.get("namespace", CILIUM_NAMESPACE), name, timeout)
        for crd in CILIUM_CRDS:
            self.kube.wait_crd_established(crd, timeout)

    def _sideload_images(self) -> None:
        """Images already in the local Docker go into the nodes: a workshop on bad Wi-Fi needs no pull."""
        for key, image in sorted(self.lab.images.items()):
            if key in SIDELOAD_SKIP or not self.docker.image_present(image):
                continue
            try:
                self.kind.load_image(self.cluster_name, image)
            except RuntimeFailure:
                # Docker's containerd image store breaks `kind load docker-image`; an archive of one platform works.
                with tempfile.TemporaryDirectory(prefix="lab-image-") as tmp:
                    archive = Path(tmp) / "image.tar"
                    self.docker.save(image, archive, docker_platform())
                    self.kind.load_archive(self.cluster_name, archive)

    def stack_up(self) -> None:
        network = self.lab.values.get("network", {}).get("name", "kind")
        subnets = self.docker.network_subnets(network)
        if subnets is None:
            raise RuntimeFailure(f"docker network {network} does not exist; kind creates it with the cluster")
        outside = outside_subnets(pinned_addresses(self.rendered).get(network, []), subnets)
        if outside:
            raise BadInput(f"{', '.join(outside)} pinned by the stack is not inside the {network} network ({', '.join(subnets)}); "
                           "rerun with --set network.subnet=<its IPv4 subnet>")
        self.compose.up()

    def _applied_kinds(self) -> list[tuple[str, str]]:
        """Kinds in the order the lab's apply steps create them."""
        files = []
        for step in self.lab.steps:
            if step.kind == "apply":
                files += group_files(self.rendered, step.apply)
        seen = []
        for doc in load_docs(files):
            key = (doc["apiVersion"], doc["kind"])
            if key not in seen:
                seen.append(key)
        return seen

    def reset_lab_objects(self) -> list[str]:
        """Delete the lab's objects of a previous run (policy before the config it points at) and wait until
        they are gone: a Pod still terminating cannot be created again. Namespaces stay: deleting one is slow
        and re-applying it while it terminates fails."""
        kinds = [k for k in reversed(self._applied_kinds()) if k[1] != "Namespace"]
        removed = []
        for api_version, kind in kinds:
            removed += self.kube.delete_labelled(api_version, kind, self.selector)
        if removed:
            self.kube.wait_deleted(kinds, self.selector, self.wait_timeout("delete", 120))
        return removed

    def apply(self, group: str, files: list[Path]) -> None:
        for doc in load_docs(files):
            self.kube.apply(doc)

    def wait(self, spec: dict) -> None:
        timeout = float(spec.get("timeout", 180))
        if spec["for"] == "pod-ready":
            self.kube.wait_pod_ready(spec["namespace"], spec["name"], timeout)
        elif spec["for"] == "crd-established":
            self.kube.wait_crd_established(spec["name"], timeout)

    def _client(self) -> tuple[str, str]:
        pod = client_pod(self.lab, self.docs)
        return pod["metadata"]["namespace"], pod["metadata"]["name"]

    def exec_client(self, argv: list[str]) -> tuple[int, str, str]:
        namespace, name = self._client()
        return self.kube.exec(namespace, name, argv)

    def _agent_on_client_node(self) -> str:
        namespace, name = self._client()
        node = self.kube.pod_node(namespace, name)
        agents = self.kube.pods(CILIUM_NAMESPACE, "k8s-app=cilium", node=node)
        if not agents:
            raise RuntimeFailure(f"no Cilium agent pod on node {node}")
        return agents[0]

    def flows(self, params: dict) -> Flows:
        """`hubble observe` inside the agent on the client's node: no port-forward, no hubble CLI on the host."""
        agent = self._agent_on_client_node()
        argv = ["hubble", "observe", "--output", "json", "--last", "1000"]
        if params.get("namespace"):
            argv += ["--from-namespace", str(params["namespace"])]
        if params.get("pod"):
            argv += ["--from-pod", f"{params.get('namespace', 'default')}/{params['pod']}"]
        if params.get("toIp"):
            argv += ["--to-ip", str(params["toIp"])]
        if params.get("toPort"):
            argv += ["--to-port", str(params["toPort"])]
        if params.get("flowType"):
            argv += ["--type", str(params["flowType"])]
        code, out, err = self.kube.exec(CILIUM_NAMESPACE, agent, argv, container="cilium-agent")
        if code != 0:
            raise RuntimeFailure(f"hubble observe failed in {agent}: {err.strip()}")
        verdicts = []
        for line in out.splitlines():
            try:
                flow = json.loads(line).get("flow", {})
            except ValueError:
                continue
            verdicts.append(flow.get("verdict", "UNKNOWN"))
        return Flows(len(verdicts), f"hubble observe in {agent}", tuple(verdicts), output=f"$ {' '.join(argv)}\n{out}\n{err}")

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
        namespace, name = self._client()
        save(f"pod-{namespace}-{name}.log", lambda: self.kube.logs(namespace, name))
        for agent in self.kube.pods(CILIUM_NAMESPACE, "k8s-app=cilium"):
            save(f"{agent}.log", lambda a=agent: self.kube.logs(CILIUM_NAMESPACE, a, "cilium-agent"))
            for what, argv in (("redirects", ["cilium-dbg", "status", "--all-redirects"]),
                               ("envoy-listeners", ["cilium-dbg", "envoy", "admin", "listeners"]),
                               ("envoy-clusters", ["cilium-dbg", "envoy", "admin", "clusters"]),
                               ("hubble", ["hubble", "observe", "--last", "200", "--from-namespace", namespace])):
                save(f"{agent}-{what}.txt", lambda a=agent, v=argv: "\n".join(self.kube.exec(CILIUM_NAMESPACE, a, v, container="cilium-agent")[1:]))
        for envoy in self.kube.pods(CILIUM_NAMESPACE, "k8s-app=cilium-envoy"):
            save(f"{envoy}.log", lambda e=envoy: self.kube.logs(CILIUM_NAMESPACE, e))
        if os.environ.get("LAB_KIND_EXPORT_LOGS") == "1":
            self.kind.export_logs(self.cluster_name, dest / "kind")
        return written

    def down(self) -> list[str]:
        removed = []
        self.compose.down()  # by project name: works even when the rendered files are gone
        removed.append(f"compose project lab-{self.lab.instance}")
        if self.cluster_name in self.kind.clusters():
            self.kind.delete(self.cluster_name, self.kubeconfig)
            removed.append(f"kind cluster {self.cluster_name}")
        self.kubeconfig.unlink(missing_ok=True)
        return removed

    def access_hint(self) -> str:
        namespace, name = self._client()
        return f"explore: export KUBECONFIG={self.kubeconfig}; kubectl -n {namespace} exec -it {name} -- sh"

    def status(self) -> list[dict]:
        up = self.cluster_name in self.kind.clusters()
        return [{"kind": "cluster", "name": self.cluster_name, "status": "running" if up else "absent", "image": self.lab.images.get("kindNode", ""), "role": "kind"}]
