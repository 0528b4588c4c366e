"""The docker runtime's node: what a kubelet does, as far as a lab needs it, with Docker containers.

It registers a Node (Ready, with a heartbeat Lease), runs every pod the scheduler binds to it as a container
on the lab's network, and reports the real state back: phase, container statuses, the container's IP as the
pod IP, readiness and liveness probes with their timing (initial delay, period, thresholds; a failed liveness
probe restarts the container). Secret, ConfigMap, projected (service-account token, root CA, namespace) and
downwardAPI volumes live in Docker volumes mounted read-only, laid out as the kubelet's atomic writer does
(`..data` -> a versioned folder, each key a link through it) and refreshed when their source changes, so a
program watching its certificate files sees a Secret's update; the files are written through a created,
never started helper container (`<pod>-volumes`) that mounts them writable. emptyDir is a tmpfs. The
container's securityContext is honoured: user and group, runAsNonRoot, readOnlyRootFilesystem, capabilities
added and dropped, allowPrivilegeEscalation: false (no-new-privileges). The pod
reaches the API server with in-cluster configuration (KUBERNETES_SERVICE_HOST is the API server's name on
the lab network). A Service's name (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`) resolves to
its pods through Docker network aliases, so a Service's port must equal its pods' port.

Whatever a pod spec asks for that this node cannot do fails the pod with a message naming the field; it is
never silently ignored. Runs as a background process started by the docker runtime (`python -m
orchestrator.runtimes.docker.node ...`) and stopped by `lab down`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from orchestrator.providers.docker import DockerEngine
from orchestrator.providers.kube import KubeApi
from orchestrator.runtimes.docker.pod_inputs import PodInputs
from orchestrator.runtimes.docker.pod_spec import (  # noqa: F401 (the node's vocabulary, as its users import it)
    ADDABLE_CAPABILITIES, KUBELET_VERSION, NAMESPACE_LABEL, POD_LABEL, POD_ROLE, POD_UID_LABEL, ROLE_LABEL, STRATEGIC_MERGE, VOLUMES_ROLE,
    ProbeTrack, Refused, Unsupported, log, now, unsupported_fields)
from orchestrator.runtimes.docker.probes import PodProbes


class ApiRefused(Exception):
    """An error status from the API server, with its Status body (as the client's ApiException carries it)."""

    def __init__(self, status: int, answer: dict | None, what: str):
        self.status, self.body = status, json.dumps(answer or {})
        super().__init__(f"{what}: ({status}) {(answer or {}).get('message', '')}"[:400])


class Node(PodInputs, PodProbes):
    """The node: registration and heartbeat, and each pod's container started, followed and reported; what a pod's
    container gets from the API is PodInputs', how it is probed PodProbes'."""

    def __init__(self, kubeconfig: str, instance: str, network: str, api_host: str, labels: dict[str, str]):
        self.kube = KubeApi(Path(kubeconfig))
        self.engine = DockerEngine()
        self.instance = instance
        self.network = network
        self.api_host = api_host
        self.labels = labels
        self.name = f"{instance}-node"
        self.started: dict[str, float] = {}
        self.started_mono: dict[str, float] = {}  # when the container (re)started, for probe delays
        self.probes: dict[tuple[str, str], ProbeTrack] = {}
        self.restarts: dict[str, int] = {}  # liveness restarts (Docker counts only its own)
        self.volume_state: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}  # (uid, volume) -> (content hash, keys)
        self.volume_checked: dict[str, float] = {}
        self.known_pods: set[str] | None = None  # the pods bound here at the last cleanup
        self.last_heartbeat = 0.0
        self._address: str | None = None

    # ------------------------------------------------------------------ the Node object
    def address(self) -> str:
        """The node's address: the lab network's gateway (this host, as seen from the pods). Read once: every
        status report carries it, and the network outlives the node."""
        import ipaddress

        if self._address is None:
            net = self.engine.network(self.network)
            if net is None:
                return "127.0.0.1"
            config = (net.attrs.get("IPAM", {}).get("Config") or [{}])[0]
            first_host = str(ipaddress.ip_network(config["Subnet"], strict=False)[1]) if config.get("Subnet") else "127.0.0.1"
            self._address = config.get("Gateway") or first_host
        return self._address

    def node_status(self) -> dict:
        condition = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "lab node is posting ready status",
                     "lastHeartbeatTime": now(), "lastTransitionTime": now()}
        capacity = {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        return {"conditions": [condition], "addresses": [{"type": "InternalIP", "address": self.address()},
                                                         {"type": "Hostname", "address": self.name}],
                "capacity": capacity, "allocatable": capacity,
                "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux",
                             "architecture": "amd64", "containerRuntimeVersion": "docker://lab", "osImage": "lab docker runtime",
                             "kernelVersion": "", "machineID": self.name, "systemUUID": self.name, "bootID": self.name}}

    def _api(self, method: str, path: str, body: dict | None = None, query: list | None = None,
             content_type: str = "application/json", allow: tuple[int, ...] = ()) -> dict:
        """A request as the node, the JSON as served (a kubelet polls all the time: the typed models' CPU would
        compete with the API server's); an error status other than `allow`ed raises."""
        status, answer = self.kube.call(method, path, body, query, content_type)
        if status >= 400 and status not in allow:
            raise ApiRefused(status, answer, f"{method} {path}")
        return answer or {}

    def register(self) -> None:
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.name, "labels": {
            "kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", **self.labels}}}
        self._api("POST", "/api/v1/nodes", body, allow=(409,))
        self.heartbeat(force=True)

    def heartbeat(self, force: bool = False) -> None:
        if not force and time.monotonic() - self.last_heartbeat < 10:
            return
        self._api("PATCH", f"/api/v1/nodes/{self.name}/status", {"status": self.node_status()}, content_type=STRATEGIC_MERGE)
        leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": self.name, "namespace": "kube-node-lease"},
                 "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40,
                          "renewTime": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}
        try:
            self._api("PATCH", f"{leases}/{self.name}", {"spec": lease["spec"]}, content_type=STRATEGIC_MERGE)
        except ApiRefused as exc:
            if exc.status != 404:
                raise
            self._api("POST", leases, lease)
        self.last_heartbeat = time.monotonic()

    # ------------------------------------------------------------------ pods
    def container_name(self, pod: dict) -> str:
        return f"lab-{self.instance}-{pod['metadata']['name']}"

    def pods(self) -> list[dict]:
        return self._api("GET", "/api/v1/pods", query=[("fieldSelector", f"spec.nodeName={self.name}")]).get("items") or []

    def _aliases(self, pod: dict, services: list[dict]) -> list[str]:
        meta = pod["metadata"]
        labels, namespace = meta.get("labels") or {}, meta["namespace"]
        aliases = []
        for svc in services:
            selector = (svc.get("spec") or {}).get("selector") or {}
            if svc["metadata"]["namespace"] == namespace and selector and all(labels.get(k) == v for k, v in selector.items()):
                name = svc["metadata"]["name"]
                aliases += [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]
        if pod["spec"].get("hostname") and pod["spec"].get("subdomain"):
            aliases.append(f"{pod['spec']['hostname']}.{pod['spec']['subdomain']}.{namespace}.svc.cluster.local")
        return sorted(set(aliases))

    def start(self, pod: dict, services: list[dict]) -> None:
        unsupported_fields(pod)
        spec, meta = pod["spec"], pod["metadata"]
        container = spec["containers"][0]
        with_files, mounts, tmpfs = self._mounted_volumes(pod)
        security = {**(spec.get("securityContext") or {}), **(container.get("securityContext") or {})}
        if security.get("privileged"):
            raise Unsupported("spec.containers[0].securityContext.privileged", "privileged pods are not run by the docker runtime's node")
        user = self._user(pod, security)
        caps = security.get("capabilities") or {}
        beyond = sorted({str(c).upper().removeprefix("CAP_") for c in caps.get("add") or []} - ADDABLE_CAPABILITIES)
        if beyond:
            raise Unsupported("spec.containers[0].securityContext.capabilities.add",
                              f"{', '.join(beyond)}: the docker runtime's node adds only {', '.join(sorted(ADDABLE_CAPABILITIES))}")
        name = self.container_name(pod)
        labels = {**self.labels, ROLE_LABEL: POD_ROLE, POD_UID_LABEL: meta["uid"], POD_LABEL: meta["name"], NAMESPACE_LABEL: meta["namespace"],
                  "lab.dev/spec-hash": hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]}
        for old in (self.engine.container(name), self.engine.container(self.helper_name(pod))):
            if old is not None:
                self.engine.remove(old, self.labels)
        for volume in mounts:
            self.engine.create_volume(volume, {**self.labels, POD_UID_LABEL: meta["uid"]})
        environment = self._env(pod, container)  # here: a missing Secret or ConfigMap key refuses the pod before a container is made
        with ThreadPoolExecutor(1) as pool:  # the container is made while its volumes are written; it starts once they are
            created = pool.submit(self.engine.run, name, container["image"], container.get("args") or [], labels=labels, network=self.network,
                                  user=user, cap_add=list(caps.get("add") or []) or None, cap_drop=list(caps.get("drop") or []) or None,
                                  read_only=bool(security.get("readOnlyRootFilesystem")), group_add=self._groups(pod),
                                  no_new_privileges=security.get("allowPrivilegeEscalation") is False, init=False,
                                  environment=environment, aliases=self._aliases(pod, services), volumes=mounts,
                                  entrypoint=container.get("command") or None, workdir=container.get("workingDir"), tmpfs=tmpfs or None,
                                  start=False)
            try:
                if with_files:
                    helper = self.engine.run(self.helper_name(pod), container["image"], ["volumes"], entrypoint=["volumes"], start=False,
                                             init=False, labels={**labels, ROLE_LABEL: VOLUMES_ROLE},
                                             volumes={self.volume_name(pod, v): f"/volumes/{v}" for v in with_files}, volumes_read_only=False)
                    for key in [k for k in self.volume_state if k[0] == meta["uid"]]:
                        del self.volume_state[key]
                    for volume in with_files.values():
                        self._write_volume(pod, helper, volume)
            except BaseException:  # a volume's source is missing: no container may run without it (the next pass retries)
                if created.exception() is None:
                    self.engine.remove(created.result(), self.labels)
                raise
            self.engine.start(created.result())
        self.started[meta["uid"]] = time.time()
        self.started_mono[meta["uid"]] = time.monotonic()
        self.volume_checked[meta["uid"]] = time.monotonic()

    def report(self, pod: dict, phase: str, *, ready: bool = False, ip: str | None = None, state: dict | None = None,
               restarts: int = 0, reason: str | None = None, message: str | None = None, container_id: str = "") -> None:
        meta = pod["metadata"]
        container = pod["spec"]["containers"][0]
        started = dt.datetime.fromtimestamp(self.started.get(meta["uid"], time.time()), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        conditions = [{"type": t, "status": s, "lastTransitionTime": started} for t, s in (
            ("PodScheduled", "True"), ("Initialized", "True"), ("ContainersReady", "True" if ready else "False"), ("Ready", "True" if ready else "False"))]
        status = {"phase": phase, "conditions": conditions, "hostIP": self.address(), "startTime": started,
                  "containerStatuses": [{"name": container["name"], "image": container["image"], "imageID": "", "containerID": container_id,
                                         "ready": ready, "started": phase == "Running", "restartCount": restarts,
                                         "state": state or {"waiting": {"reason": reason or "ContainerCreating"}}}]}
        if ip:
            # podIPs merge by their ip under a strategic merge patch: a restarted container's new address would join
            # the old one (refused: one per family), so the old is deleted in the patch, as the kubelet's does.
            gone = [{"ip": p["ip"], "$patch": "delete"} for p in pod.get("status", {}).get("podIPs") or [] if p.get("ip") not in (None, ip)]
            status["podIP"], status["podIPs"] = ip, [{"ip": ip}, *gone]
        if reason:
            status["reason"] = reason
        if message:
            status["message"] = message
        if pod.get("status", {}).get("phase") == phase and _same(pod.get("status", {}), status):
            return
        self._api("PATCH", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status", {"status": status},
                  content_type=STRATEGIC_MERGE)

    def reconcile(self) -> bool:
        """One pass over the pods bound here; whether the node is settled: every pod ready or finished, nothing
        started, restarted or removed (the loop then relists less often, as the kubelet's relist does)."""
        try:
            self.heartbeat()
        except Exception as exc:  # a missed heartbeat must not stop the pods' work
            log.warning("heartbeat: %s", _brief(exc))
        pods = self.pods()
        services = self._api("GET", "/api/v1/services").get("items") or []
        wanted = {p["metadata"]["uid"] for p in pods}
        settled = True
        for container in self.engine.states(self.labels):  # names and labels from one list call, every pass
            if container.labels.get(ROLE_LABEL) in (POD_ROLE, VOLUMES_ROLE) and container.labels.get(POD_UID_LABEL) not in wanted:
                self.engine.remove(container, self.labels)
                settled = False
        if wanted != self.known_pods:  # a pod went (or came): its volumes and bookkeeping go with it, not on every loop
            self.forget(wanted)
            self.known_pods = wanted
            settled = False
        for pod in pods:
            try:
                settled = self.reconcile_pod(pod, services) and settled
            except Refused as exc:  # a Secret or ConfigMap still missing: it may come at any moment
                self.report(pod, "Pending", reason="CreateContainerConfigError", message=str(exc),
                            state={"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}})
                settled = False
            except Unsupported as exc:
                log.info("pod %s/%s: %s", pod["metadata"]["namespace"], pod["metadata"]["name"], exc)
                self.report(pod, "Failed", reason="Unsupported", message=f"the docker runtime's node cannot run this pod: {exc}",
                            state={"terminated": {"exitCode": 1, "reason": "Unsupported", "message": str(exc)}})
            except Exception as exc:  # one pod's trouble must not stop the node
                log.warning("pod %s/%s: %s", pod["metadata"]["namespace"], pod["metadata"]["name"], _brief(exc))
                settled = False
        return settled

    def forget(self, wanted: set[str]) -> None:
        """Remove the volumes of pods no longer bound here, and what the node kept about them."""
        for volume in self.engine.volumes(self.labels):
            uid = (volume.attrs.get("Labels") or {}).get(POD_UID_LABEL)
            if uid and uid not in wanted:
                self.engine.remove_volume(volume, self.labels)
        for table in (self.probes, self.volume_state):
            for key in [k for k in table if k[0] not in wanted]:
                del table[key]
        for table in (self.volume_checked, self.started_mono, self.restarts, self.started):
            for uid in [u for u in table if u not in wanted]:
                del table[uid]

    def reconcile_pod(self, pod: dict, services: list[dict]) -> bool:
        """The pod's container made to match it, and its state reported; whether the pod is settled (running and
        ready, or finished)."""
        meta = pod["metadata"]
        name = self.container_name(pod)
        container = self.engine.container(name)
        if meta.get("deletionTimestamp"):
            for gone in (container, self.engine.container(self.helper_name(pod))):
                if gone is not None:
                    self.engine.remove(gone, self.labels)
            self._api("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", query=[("gracePeriodSeconds", 0)])
            return False
        if pod.get("status", {}).get("phase") in ("Failed", "Succeeded") and container is None:
            return True
        settled = True
        if container is None or container.labels.get(POD_UID_LABEL) != meta["uid"]:
            self.start(pod, services)
            container, settled = self.engine.container(name), False
        state = container.attrs.get("State") or {}
        restarts = container.attrs.get("RestartCount", 0) + self.restarts.get(meta["uid"], 0)
        if container.status == "running":
            net = (container.attrs.get("NetworkSettings", {}).get("Networks") or {}).get(self.network) or {}
            ip = net.get("IPAddress")
            wanted_aliases = self._aliases(pod, services)
            if sorted(set(net.get("Aliases") or []) & set(wanted_aliases)) != wanted_aliases and wanted_aliases:
                self._realias(container, ip, wanted_aliases)
            self.refresh_volumes(pod)
            if not self.probe(pod, "livenessProbe", ip):
                log.info("pod %s/%s: liveness probe failed, restarting", meta["namespace"], meta["name"])
                self.restart(pod, container)
                return False
            ready = self.probe(pod, "readinessProbe", ip)
            self.report(pod, "Running", ready=ready, ip=ip, restarts=restarts,
                        container_id=f"docker://{container.id}", state={"running": {"startedAt": state.get("StartedAt", now())[:19] + "Z"}})
            return settled and ready
        code = state.get("ExitCode", 1)
        policy = pod["spec"].get("restartPolicy", "Always")
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            self.restart(pod, container)
            return False
        self.report(pod, "Succeeded" if code == 0 else "Failed", restarts=restarts, container_id=f"docker://{container.id}",
                    state={"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}})
        return settled

    def _realias(self, container, ip: str, aliases: list[str]) -> None:
        """A Service appeared after its pod: reconnect the pod to the network under its names, keeping its IP."""
        net = self.engine.network(self.network)
        net.disconnect(container)
        net.connect(container, aliases=aliases, ipv4_address=ip)


def _brief(exc: Exception) -> str:
    """An API error with the server's message (its reason alone says little)."""
    body = getattr(exc, "body", None)
    if body:
        try:
            return f"({exc.status}) {json.loads(body).get('message', '')}"[:400]
        except (TypeError, ValueError):
            pass
    return (str(exc).splitlines() or [type(exc).__name__])[0][:400]


def _same(old: dict, new: dict) -> bool:
    keys = ("phase", "podIP", "reason", "message")
    if any(old.get(k) != new.get(k) for k in keys):
        return False
    ready = lambda s: [(c.get("type"), c.get("status")) for c in s.get("conditions") or []]  # noqa: E731
    statuses = lambda s: [(c.get("ready"), c.get("restartCount"), sorted((c.get("state") or {}).keys())) for c in s.get("containerStatuses") or []]  # noqa: E731
    return ready(old) == ready(new) and statuses(old) == statuses(new)


def watch_and_wake(node: Node, path: str, query: list, wake: threading.Event, stop: list) -> None:
    """A kubelet hears of the pods bound to it (and of Services, whose names its pods resolve) from a watch, not
    at its next relist: each event wakes the loop at once. The loop still lists every pass (the watch only says
    when), so a lost event costs one interval at most."""
    while not stop:
        try:
            for _event in node.kube.watch(path, query):
                wake.set()
                if stop:
                    return
        except Exception as exc:  # the API server restarting: the loop's relist carries on meanwhile
            log.info("watch %s: %s", path, _brief(exc))
            time.sleep(1)


def connect(args, stop: list, timeout: float = 180) -> Node | None:
    """The node starts while the API server boots (its imports take a second): until the admin kubeconfig is
    written and the API answers, it retries, reading the kubeconfig afresh (a previous cluster's may be there)."""
    deadline, last = time.monotonic() + timeout, ""
    node, read = None, None
    while not stop:
        try:
            kubeconfig = Path(args.kubeconfig).read_bytes()
            if node is None or kubeconfig != read:  # a client (and Docker connection) per kubeconfig, not per attempt
                node, read = Node(args.kubeconfig, args.instance, args.network, args.api_host, json.loads(args.labels)), kubeconfig
            node.register()
            return node
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not accept the node within {timeout:.0f}s: {last}") from exc
            last = _brief(exc)
            time.sleep(0.1)
    return None


def start_cilium_agent(args, stop: list) -> None:
    """Cilium's agent runs on each node: here, the emulation's loop following the API (network/emulated/agent.py),
    with its own API client and Docker connection (the node's are its threads' own)."""
    from orchestrator.network.emulated.agent import AgentHost, AgentInstance, follow_api
    from orchestrator.network.registry import default_networks

    host = AgentHost(DockerEngine(), KubeApi(Path(args.kubeconfig)), AgentInstance(args.instance, Path(args.state_dir)),
                     json.loads(args.labels), json.loads(args.follow_cilium))
    cilium = default_networks().make("emulated-cilium", host)
    threading.Thread(target=follow_api, args=(cilium, stop), name="cilium-agent", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.runtimes.docker.node")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--network", required=True)
    parser.add_argument("--api-host", required=True)
    parser.add_argument("--labels", required=True, help="JSON object: the instance's ownership labels")
    parser.add_argument("--interval", type=float, default=0.2,
                        help="seconds between relists while a pod starts, restarts or is not ready (a watch wakes it sooner)")
    parser.add_argument("--settled-interval", type=float, default=1.0,
                        help="seconds between relists once every pod is ready or finished (the kubelet relists every second)")
    parser.add_argument("--state-dir", help="the instance's folder (the emulated Cilium's record lies there)")
    parser.add_argument("--follow-cilium", help="JSON object: the images of the network's roles; runs Cilium's agent loop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    node = connect(args, stop)
    if node is None:
        return
    log.info("node %s registered", node.name)
    wake = threading.Event()
    for name, path, query in (("pod-watch", "/api/v1/pods", [("fieldSelector", f"spec.nodeName={node.name}")]),
                              ("service-watch", "/api/v1/services", [])):
        threading.Thread(target=watch_and_wake, args=(node, path, query, wake, stop), name=name, daemon=True).start()
    if args.follow_cilium is not None:
        start_cilium_agent(args, stop)
    while not stop:
        wake.clear()  # before the pass: an event during it wakes the next one at once
        try:
            settled = node.reconcile()
        except Exception as exc:  # the API server restarting, a container vanishing: try again
            log.warning("reconcile: %s", _brief(exc))
            settled = False
        # Polling at the fast pace once all is settled would cost the API server and Docker as much CPU as a
        # booting neighbour instance needs.
        relist = time.monotonic() + (args.settled_interval if settled else args.interval)
        while not stop and not wake.is_set() and time.monotonic() < relist:
            wake.wait(min(0.5, relist - time.monotonic()))  # in slices: SIGTERM is seen within half a second
    log.info("node %s stopping", node.name)


if __name__ == "__main__":
    main()
