"""Fakes at the boundaries a unit or contract test cannot cross: the Kubernetes API (a cluster per test, a
client per connection, as the tool makes them) and the Docker engine. Each records its calls and refuses what
the real one refuses."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import MissingPrerequisite, PermanentFailure, RuntimeFailure
from orchestrator.providers.docker import ContainerState, _label_filter, _not_ours
from orchestrator.providers.process import ExecResult
from orchestrator.spec.model import owned
from tests.contract.fakes.pod_answers import answer


def ready_object(kind: str, name: str, ready: bool) -> dict:
    """The object as the API server would return it when it is (or is not) ready, for the real predicates."""
    if kind in ("DaemonSet", "Deployment", "StatefulSet"):
        n = 1 if ready else 0
        status = {"observedGeneration": 2, "desiredNumberScheduled": 1, "updatedNumberScheduled": n, "numberAvailable": n,
                  "replicas": 1, "updatedReplicas": n, "availableReplicas": n, "readyReplicas": n}
        return {"kind": kind, "metadata": {"name": name, "generation": 2}, "spec": {"replicas": 1}, "status": status}
    condition = {"CustomResourceDefinition": "Established", "APIService": "Available"}.get(kind, "Ready")
    return {"kind": kind, "metadata": {"name": name},
            "status": {"phase": "Running" if ready else "Pending", "conditions": [{"type": condition, "status": "True" if ready else "False"}]}}



class FakeCluster:
    """A cluster as the Kubernetes API shows it to the tool: what was applied (in order, and when), Secrets its own
    controllers wrote, how its pods and Cilium agents answer exec, which wait never ends; every call recorded. One
    per test: each client the tool makes (`client`, in place of KubeApi) works on it."""

    def __init__(self):
        self.calls: list = []
        self.fail_wait: str | None = None
        self.applied: list = []
        self.applied_at: list = []
        self.secrets: dict = {}  # (namespace, name) -> {key: bytes}: what the cluster's own controllers wrote
        self.pods_answer = None  # (namespace, pod, argv) -> answer, for a lab other than inject-mtls
        self.running_pods: list[dict] = []  # Pods as the API reports them once a node runs them (status, podIP)

    def client(self, kubeconfig: Path) -> "FakeKube":
        return FakeKube(self, kubeconfig)


class FakeKube:
    """Records every call; answers exec like the lab's pod and Cilium agent would when the lab works.
    Waits hand the runtime's own readiness predicate an object as the API server would return it."""

    def __init__(self, cluster: FakeCluster, kubeconfig: Path):
        assert Path(kubeconfig).is_file(), "kubeconfig must exist before the API is used"
        self.cluster = cluster
        cluster.calls.append(("connect", Path(kubeconfig).name))

    def apply(self, doc):
        self.cluster.calls.append(("apply", doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"]))
        self.cluster.applied.append(doc)
        self.cluster.applied_at.append(time.time())

    def delete_labelled(self, api_version, kind, selector):
        self.cluster.calls.append(("delete", kind, selector))
        return [f"{kind} x"] if self.cluster.applied else []

    def wait_deleted(self, kinds, selector, timeout):
        self.cluster.calls.append(("wait-deleted", tuple(k for _v, k in kinds), selector))

    def labelled(self, api_version, kind, selector):
        """What was applied of a kind with every label of the selector (applied objects carry the lab's labels)."""
        self.cluster.calls.append(("labelled", kind, selector))
        wanted = dict(term.split("=", 1) for term in selector.split(","))
        return [{**d, "metadata": {**d["metadata"], "uid": f"uid-{kind}-{d['metadata']['name']}"}}  # as the API server has them
                for d in self.cluster.applied if d["kind"] == kind and wanted.items() <= (d["metadata"].get("labels") or {}).items()]

    def delete(self, api_version, kind, name, namespace):
        self.cluster.calls.append(("delete-one", kind, namespace, name))
        if not any(d["kind"] == kind and d["metadata"]["name"] == name for d in self.cluster.applied):
            raise RuntimeFailure(f'{kind} "{name}" not found')
        return f"{kind} {namespace + '/' if namespace else ''}{name}"

    def wait_nodes_ready(self, timeout):
        self.cluster.calls.append(("wait-nodes",))

    def wait_for(self, what, api_version, kind, name, namespace, ready, timeout):
        self.cluster.calls.append(("wait", kind, namespace, name))
        ok = self.cluster.fail_wait != name
        done, seen = ready(ready_object(kind, name, ok))
        assert done == ok, f"the readiness predicate of {kind} {name} said {done} for {seen}"
        if not done:
            raise RuntimeFailure(f"timed out after {timeout:.0f}s waiting for {what} (last seen: {seen})")

    def get(self, api_version, kind, name, namespace=None):
        """The object as last applied (what a live read returns for objects only the lab writes)."""
        self.cluster.calls.append(("get", kind, namespace, name))
        found = [d for d in self.cluster.applied if d["kind"] == kind and d["metadata"]["name"] == name
                 and d["metadata"].get("namespace") == namespace]
        if not found:
            raise RuntimeFailure(f'{kind} "{name}" not found')
        return found[-1]

    def patch(self, api_version, kind, name, namespace, body, content_type):
        self.cluster.calls.append(("patch", kind, namespace, name, content_type, json.dumps(body)))
        return {}

    def secret_values(self, namespace, name, *keys):
        self.cluster.calls.append(("secret-values", namespace, name, keys))
        held = self.cluster.secrets[(namespace, name)]
        return [held[k] for k in keys]

    def pod_node(self, namespace, name):
        self.cluster.calls.append(("pod-node", namespace, name))
        return "inject-mtls-worker"

    def pods(self, namespace, selector, node=None):
        self.cluster.calls.append(("pods", namespace, selector, node))
        return ["cilium-abcde"] if "cilium" in selector and "envoy" not in selector else ["cilium-envoy-xyz"]

    def logs(self, namespace, pod, container=None):
        self.cluster.calls.append(("logs", namespace, pod, container))
        return "log line\n"

    def exec(self, namespace, pod, argv, container=None, timeout=60):
        self.cluster.calls.append(("exec", namespace, pod, tuple(argv), container))
        return self.cluster.pods_answer(namespace, pod, argv) if self.cluster.pods_answer else answer(argv)

    def known(self, api_version, kind):
        """A kind of the API server's own groups, or one a CustomResourceDefinition applied here names."""
        self.cluster.calls.append(("known", api_version, kind))
        group = api_version.rpartition("/")[0]
        return "." not in group or any(d["kind"] == "CustomResourceDefinition" and d["spec"]["group"] == group and d["spec"]["names"]["kind"] == kind
                                       for d in self.cluster.applied)

    def list(self, api_version, kind, namespace=None):
        """What the API holds of a kind: the pods a node runs (with their status), else what was applied."""
        self.cluster.calls.append(("list", kind, namespace))
        source = self.cluster.running_pods if kind == "Pod" and self.cluster.running_pods else self.cluster.applied
        return [d for d in source if d["kind"] == kind and (namespace is None or d["metadata"].get("namespace") == namespace)]


@dataclass
class FakeContainer:
    name: str
    image: str
    labels: dict[str, str]
    command: list[str]
    options: dict
    status: str = "created"
    id: str = ""
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def attrs(self) -> dict:
        return {"State": {"ExitCode": 0 if self.status != "exited" else 1}, "Config": {"Image": self.image}}

    def restart(self, timeout: int = 0) -> None:
        self.status = "running"

    def logs(self, **_options) -> bytes:
        return b""


class FakeEngine:
    """The Docker engine as the tool's DockerEngine presents it: containers, volumes, networks, exec, files. It
    refuses what Docker refuses (a name in use, an image that is not here) and what the real DockerEngine refuses
    before Docker sees it (a label filter without the ownership labels, removing what another owner made).
    `answer(container, argv)` scripts exec; by default every command succeeds, and Envoy's admin /ready says LIVE
    once an Envoy container runs."""

    def __init__(self, images: list[str] = ()):
        self.images = set(images)
        self.containers_by_name: dict[str, FakeContainer] = {}
        self.volumes_by_name: dict[str, dict] = {}
        self.networks_by_name: dict[str, dict] = {}
        self.calls: list[tuple] = []
        self.answer = None
        self._ids = itertools.count(1)

    # images
    def ensure_image(self, ref: str) -> None:
        if ref not in self.images:
            raise MissingPrerequisite(f"image {ref} is not present and cannot be pulled")

    def image_present(self, ref: str) -> bool:
        return ref in self.images

    # networks
    def network(self, name: str):
        spec = self.networks_by_name.get(name)
        return None if spec is None else type("Network", (), {"name": name, "attrs": spec})()

    def ensure_network(self, name: str, subnet: str, labels: dict[str, str]) -> list[str]:
        self.networks_by_name.setdefault(name, {"Labels": dict(labels), "IPAM": {"Config": [{"Subnet": subnet}]}, "Containers": {}})
        return [c["Subnet"] for c in self.networks_by_name[name]["IPAM"]["Config"]]

    def networks(self, labels: dict[str, str]) -> list:
        _label_filter(labels)
        return [self.network(n) for n, spec in self.networks_by_name.items() if owned(spec["Labels"], labels)]

    def remove_network_if_unused(self, name: str) -> bool:
        spec = self.networks_by_name.get(name)
        if spec is None or spec["Labels"].get("app.kubernetes.io/managed-by") != "lab":
            return False
        if any(c.options.get("network") == name and c.status == "running" for c in self.containers_by_name.values()):
            return False
        self.calls.append(("remove-network", name))
        del self.networks_by_name[name]
        return True

    # containers
    def container(self, name: str):
        return self.containers_by_name.get(name)

    def containers(self, labels: dict[str, str]) -> list[FakeContainer]:
        _label_filter(labels)  # refused without the full set of ownership labels, as the real engine's filter is
        return [c for c in self.containers_by_name.values() if all(c.labels.get(k) == v for k, v in labels.items())]

    def states(self, labels: dict[str, str]) -> list[ContainerState]:
        return [ContainerState(c.name, c.labels, c.status) for c in self.containers(labels)]

    def run(self, name: str, image: str, command: list[str], *, labels: dict[str, str], files=None, start: bool = True, **options):
        self.ensure_image(image)
        if name in self.containers_by_name:
            raise RuntimeFailure(f'start container {name}: Conflict. The container name "/{name}" is already in use')
        container = FakeContainer(name, image, dict(labels), list(command), options, id=f"{next(self._ids):064x}")
        for path, spec in (files or {}).items():
            container.files[path] = spec.content
        self.containers_by_name[name] = container
        self.calls.append(("run", name, image))
        if start:
            container.status = "running"
        return container

    def start(self, container) -> None:
        container.status = "running"

    def put_files(self, container, path: str, files: dict, links: dict | None = None) -> None:
        for rel, spec in files.items():
            container.files[f"{path}/{rel}"] = spec.content

    def wait_running(self, name: str, timeout: float) -> None:
        container = self.container(name)
        if container is None or container.status != "running":
            raise RuntimeFailure(f"container {name} is {container.status if container else 'missing'}, not running")

    def exec(self, name: str, argv: list[str], user: str | None = None) -> ExecResult:
        container = self.container(name)
        if container is None:
            raise PermanentFailure(f"container {name} does not exist (is the lab up? `lab status`)")
        self.calls.append(("exec", name, tuple(argv)))
        if self.answer is not None:
            return self.answer(container, argv)
        if argv[:1] == ["curl"] and argv[-1].endswith("/ready"):
            live = any(c.options.get("network_mode") == f"container:{name}" and c.status == "running" and "envoy" in c.command
                       for c in self.containers_by_name.values())
            return ExecResult(0 if live else 7, "LIVE" if live else "", "")
        return ExecResult(0, "", "")

    def logs(self, name: str, since: float | None = None) -> str:
        return ""

    def remove(self, container, owner: dict[str, str]) -> None:
        if not owned(container.labels, owner):
            raise _not_ours("container", container.name)
        self.calls.append(("remove", container.name))
        self.containers_by_name.pop(container.name, None)

    # volumes
    def create_volume(self, name: str, labels: dict[str, str]):
        self.volumes_by_name[name] = {"Labels": dict(labels)}
        return type("Volume", (), {"name": name, "attrs": self.volumes_by_name[name]})()

    def volumes(self, labels: dict[str, str]) -> list:
        _label_filter(labels)
        return [type("Volume", (), {"name": n, "attrs": spec})() for n, spec in self.volumes_by_name.items() if owned(spec["Labels"], labels)]

    def remove_volume(self, volume, owner: dict[str, str]) -> None:
        if not owned((volume.attrs or {}).get("Labels"), owner):
            raise _not_ours("volume", volume.name)
        self.calls.append(("remove-volume", volume.name))
        self.volumes_by_name.pop(volume.name, None)
