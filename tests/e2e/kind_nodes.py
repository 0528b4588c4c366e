"""What kind's nodes would do for a real API server, where they cannot run (no node image, no Cilium images):
kubelets that register their Nodes and report the pods bound to them Running and Ready, remove the pods
deleted from them, and answer exec as the lab's pod and Cilium agent would; Cilium's operator registering its
(real, published) CRDs once its pod runs. Everything else is the real control plane: the scheduler binds, the
DaemonSet, Deployment and ReplicaSet controllers make the pods and compute the rollout status the runtime
waits for, the API server judges every object against the real CRDs.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import yaml

from orchestrator.errors import RuntimeFailure
from orchestrator.providers.kube import KubeApi, api_errors
from tests.contract.fakes.pod_answers import answer

KUBELET_VERSION = "v1.35.0"  # kindest/node v1.35.0, the lab's node image


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class KindNodes:
    def __init__(self, kubeconfig: Path, cluster: str, workers: int, operator_crds: list[dict]):
        self.kube = KubeApi(kubeconfig)
        self.core = self.kube.core
        self.nodes = [f"{cluster}-control-plane"] + [f"{cluster}-worker{'' if i == 0 else i + 1}" for i in range(workers)]
        self.operator_crds = operator_crds
        self.crds_registered = False
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ips: dict[str, str] = {}

    def __enter__(self) -> "KindNodes":
        for index, name in enumerate(self.nodes):
            self._register(name, index)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _register(self, name: str, index: int) -> None:
        control_plane = name.endswith("-control-plane")
        labels = {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name}
        spec: dict = {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"]}
        if control_plane:  # as kubeadm marks it in a cluster with workers
            labels["node-role.kubernetes.io/control-plane"] = ""
            spec["taints"] = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
        self.core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": spec})
        self._ips[name] = f"172.18.0.{index + 2}"
        self._heartbeat(name)

    def _heartbeat(self, name: str) -> None:
        capacity = {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        status = {
            "capacity": capacity, "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": self._ips[name]}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": _now(), "lastTransitionTime": _now()}],
            "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "osImage": "Debian GNU/Linux 12 (kind)",
                         "containerRuntimeVersion": "containerd://2.1.4", "operatingSystem": "linux", "architecture": "amd64",
                         "kernelVersion": "6.1.0", "machineID": name, "systemUUID": name, "bootID": name},
        }
        self.core.patch_node_status(name, {"status": status})

    def _run(self) -> None:
        beat = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - beat > 10:
                    for name in self.nodes:
                        self._heartbeat(name)
                    beat = time.monotonic()
                self._pods()
            except Exception as exc:  # the test asserts there were none
                self.errors.append(str(exc).splitlines()[0][:300])
            self._stop.wait(0.2)

    def _pods(self) -> None:
        for pod in self.core.list_pod_for_all_namespaces().items:
            node = pod.spec.node_name
            if node not in self.nodes:
                continue
            if pod.metadata.deletion_timestamp is not None:  # the kubelet stops it and removes the object
                self.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
                continue
            if pod.status.phase != "Running":
                self._run_pod(pod, node)
            if pod.metadata.labels and pod.metadata.labels.get("io.cilium/app") == "operator" and not self.crds_registered:
                for crd in self.operator_crds:  # what Cilium's operator does when it starts
                    self.kube.apply(crd)
                self.crds_registered = True

    def _run_pod(self, pod, node: str) -> None:
        index = self.nodes.index(node)
        ip = self._ips[node] if pod.spec.host_network else f"10.244.{index}.{10 + abs(hash(pod.metadata.uid)) % 240}"
        now = _now()
        status = {
            "phase": "Running", "hostIP": self._ips[node], "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                           for t in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled")],
            "containerStatuses": [{"name": c.name, "image": c.image, "imageID": "", "ready": True, "started": True, "restartCount": 0,
                                   "state": {"running": {"startedAt": now}}} for c in pod.spec.containers],
        }
        self.core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {"status": status})


class KindNodeKube(KubeApi):
    """The real KubeApi, except what reaches a kubelet (exec, logs): answered as the lab's pods would, refused as
    the kubelet refuses it (no such pod, not running, no such container), and recorded."""

    calls: list[tuple] = []

    def exec(self, namespace, pod, argv, container=None, timeout=60):
        with api_errors(f"exec in pod {namespace}/{pod}"):
            found = self.core.read_namespaced_pod(pod, namespace)
        if found.status.phase != "Running":
            raise RuntimeFailure(f"exec in pod {namespace}/{pod}: container not running (phase {found.status.phase})")
        names = [c.name for c in found.spec.containers]
        if container is not None and container not in names:
            raise RuntimeFailure(f"exec in pod {namespace}/{pod}: container {container} is not valid for pod {pod}")
        KindNodeKube.calls.append(("exec", namespace, pod, tuple(argv), container))
        return answer(list(argv))

    def logs(self, namespace, pod, container=None):
        KindNodeKube.calls.append(("logs", namespace, pod, container))
        return "log line\n"


def operator_crds(bundle_files: list[Path]) -> list[dict]:
    return [d for path in bundle_files for d in yaml.safe_load_all(path.read_text()) if d]
