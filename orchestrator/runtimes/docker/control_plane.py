"""A real Kubernetes control plane as containers on the lab's network: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler, with a cluster PKI issued by the project's PKI engine.

The four share one network namespace, as kubeadm's static pods share their node's (hostNetwork): etcd's
container holds it, on the lab network under the control-plane node's name with the API server's port
published; etcd listens on 127.0.0.1 only, and the others join it. Docker then makes one network endpoint,
not four: each costs dockerd a re-exec of itself (its prestart hook) and the embedded DNS's iptables rules,
about 0.16 s of CPU, which a neighbour instance booting beside it needs. etcd holds it because it starts
first: the API server starts once etcd serves, since its first dial to an etcd not yet serving fails and
gRPC waits a second before the next (a gap of a second in the boot; about 0.4 s of `up` in `make bench`).

Laid out as kubeadm does (/etc/kubernetes/pki, /etc/kubernetes/*.conf) so a lab about the cluster's
certificates reads them where a kubeadm cluster keeps them. Files go into the containers by copy with
their modes; keys never on a command line. The admin kubeconfig is written to the instance's folder (0600),
pointing at the API server's port published on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import ssl
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives import serialization

from orchestrator.errors import RuntimeFailure
from orchestrator.files import write_atomic
from orchestrator.pki.issue import Issuer, Validity, build_name, issue_leaf, issue_root, new_key
from orchestrator.kube.kubeconfig import kubeconfig
from orchestrator.pki.store import PkiStore
from orchestrator.providers.docker import DockerEngine, FileSpec, docker_time

SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
API_PORT = 6443
PKI_DIR = "/etc/kubernetes/pki"
CLUSTER_PKI = "cluster-pki"  # the instance's folder for the cluster PKI (the node's PKI_DIR on kind)
ROLE_LABEL = "lab.dev/role"
CA_DAYS = 3650
LEAF_DAYS = 365
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
NETWORK_OWNER = "etcd"  # holds the namespace the other components join
ETCD_SERVING = "serving client traffic"  # etcd's log line once its gRPC server answers clients
# Go's collector at a quarter of its default pace: a booting API server allocates a great deal that lives on
# (its schemes, OpenAPI, caches), and at GOGC=100 it collects it again and again, about a fifth of its boot's
# CPU, which a neighbour instance booting beside it needs. It keeps about 120 MB more (bench: `make bench`).
GO_RUNTIME_ENV = {"GOGC": "400"}


@dataclass(frozen=True)
class ClientIdentity:
    name: str  # file stem: admin, controller-manager, scheduler
    cn: str
    organization: str | None = None


IDENTITIES = (
    ClientIdentity("admin", "kubernetes-admin", "system:masters"),
    ClientIdentity("controller-manager", "system:kube-controller-manager"),
    ClientIdentity("scheduler", "system:kube-scheduler"),
)


class ClusterPki:
    """The cluster's CA, the API server's serving certificate, service-account keys, component client
    certificates and the controllers' serving certificates: issued once per instance and reused, as a cluster
    keeps its PKI."""

    def __init__(self, directory: Path, cluster: str, api_names: list[str], serving_names: dict[str, list[str]] | None = None):
        self.store = PkiStore(directory)
        self.cluster = cluster
        self.api_names = api_names
        # controller-manager, scheduler -> the names their secure port answers to (file <name>-server.crt)
        self.serving_names = serving_names or {}

    def ensure(self) -> None:
        issuer = self._issuer() or self._issue_cluster()
        now = dt.datetime.now(dt.timezone.utc)
        for component, names in self.serving_names.items():
            stem = f"{component}-server"
            if self.store.read_cert(f"{stem}.crt") is None or self.store.read_key(f"{stem}.key") is None:  # also for a PKI issued before them
                self._leaf(stem, build_name(f"kube-{component}"), issuer, now, "server", dns=("localhost", *names), ips=("127.0.0.1",))

    def _issuer(self) -> Issuer | None:
        key, cert = self.store.read_key("ca.key"), self.store.read_cert("ca.crt")
        return Issuer(key, cert) if key is not None and cert is not None else None

    def _issue_cluster(self) -> Issuer:
        store = self.store
        store.ensure_dir()
        now = dt.datetime.now(dt.timezone.utc)
        ca_key = new_key("ecdsa-p256")
        ca = issue_root(ca_key, build_name("kubernetes"), Validity.days_from(now, CA_DAYS))
        issuer = Issuer(ca_key, ca)
        store.write_key("ca.key", ca_key)
        store.write_cert("ca.crt", ca)
        self._leaf("apiserver", build_name("kube-apiserver"), issuer, now, "server", dns=tuple(self.api_names), ips=(KUBERNETES_SERVICE_IP, "127.0.0.1"))
        sa_key = new_key("ecdsa-p256")
        store.write_key("sa.key", sa_key)
        store._write("sa.pub", sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
        for identity in IDENTITIES:
            subject = (("O", identity.organization),) if identity.organization else ()
            self._leaf(identity.name, build_name(identity.cn, subject), issuer, now, "client")
        return issuer

    def _leaf(self, stem: str, name, issuer: Issuer, now: dt.datetime, usage: str, dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> None:
        """<stem>.key and <stem>.crt: a new key and its certificate from the cluster CA."""
        key = new_key("ecdsa-p256")
        cert = issue_leaf(key, name, Validity.days_from(now, LEAF_DAYS), issuer, usage=usage, dns=dns, ips=ips)
        self.store.write_key(f"{stem}.key", key)
        self.store.write_cert(f"{stem}.crt", cert)

    def read(self, name: str) -> bytes:
        data = self.store.read(name)
        if data is None:
            raise RuntimeFailure(f"cluster PKI file {self.store.path(name)} is missing")
        return data

    def kubeconfig(self, identity: str, server: str) -> str:
        user = {"admin": "kubernetes-admin", "controller-manager": "system:kube-controller-manager",
                "scheduler": "system:kube-scheduler"}[identity]
        return kubeconfig(self.cluster, server, self.read("ca.crt"), user, self.read(f"{identity}.crt"), self.read(f"{identity}.key"))


def component_container(instance: str, component: str) -> str:
    return f"lab-{instance}-{component}"


def _last_exit(container) -> float | None:
    """When the container's previous run ended (epoch seconds): its log from then on is this run's. Not its
    start time: Docker records that once the process runs, and a busy engine records it after the first lines."""
    finished = container.attrs["State"].get("FinishedAt") or ""
    if not finished or finished.startswith("0001-"):  # never ran before: the whole log is this run's
        return None
    return docker_time(finished)


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on now (the kernel's choice), for the API server to keep."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ControlPlane:
    def __init__(self, engine: DockerEngine, instance: str, network: str, labels: dict[str, str], images: dict[str, str],
                 state_dir: Path, api_port: int | None = None):
        self.engine = engine
        # The API server's host port, chosen once and recorded: a container Docker starts again (a restart of the
        # engine, `docker start`, `lab up`) keeps it, and so the kubeconfig stays right. None: Docker picks one.
        self.api_port = api_port
        self.instance = instance
        self.network = network
        self.labels = labels
        self.images = images  # component name -> image reference
        self.kubeconfig_path = state_dir / "kubeconfig"
        self.api_host = f"{instance}-control-plane"  # as kind names its control-plane node
        self.pki = ClusterPki(state_dir / CLUSTER_PKI, instance,
                              [self.api_host, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                               "kubernetes.default.svc.cluster.local", "localhost"],
                              # their secure ports answer at the control-plane node's address, as on kubeadm's node
                              {"controller-manager": [self.api_host], "scheduler": [self.api_host]})

    def name(self, component: str) -> str:
        return component_container(self.instance, component)

    @property
    def internal_server(self) -> str:
        return f"https://{self.api_host}:{API_PORT}"

    def _labels(self, component: str) -> dict[str, str]:
        return {**self.labels, ROLE_LABEL: "control-plane", "lab.dev/component": component}

    def _pki_files(self, *names: str) -> dict[str, FileSpec]:
        return {f"{PKI_DIR}/{name}": FileSpec(self.pki.read(name), 0o600 if name.endswith(".key") else 0o644) for name in names}

    def running(self) -> bool:
        containers = {c.name: c.status for c in self.engine.states(self.labels) if c.labels.get(ROLE_LABEL) == "control-plane"}
        return all(containers.get(self.name(c)) == "running" for c in COMPONENTS)

    def up(self, timeout: float = 120) -> None:
        """Start what is not running (a rerun reuses a running control plane) and wait until the API is ready."""
        self.start_api(timeout)
        self.start_controllers(timeout)

    def start_api(self, timeout: float = 120) -> None:
        """etcd and the API server, until it is ready: enough to register CRDs and a node."""
        self.start_api_containers()
        self.wait_api(timeout)

    def start_api_containers(self) -> None:
        """etcd's and the API server's containers started (not waited for) and the admin kubeconfig written."""
        self.pki.ensure()
        self._start_all(self._api())

    def wait_api(self, timeout: float = 120, on_serving: Callable[[], None] | None = None) -> None:
        """Until the API server is ready. `on_serving` runs once, as soon as it answers at all (any HTTP status):
        its CPU-heavy start (storage, handler chain, OpenAPI) is over then, and its remaining wait is its
        post-start hooks, which other work on the machine hardly slows."""
        self._wait_ready(timeout, [component for component, _ in self._api()], on_serving)

    def create_controllers(self) -> None:
        """The controller-manager's and scheduler's containers created (image, files) but not started, while the
        API server boots: starting them afterwards is then all that is left on the critical path."""
        with ThreadPoolExecutor(2) as pool:
            for created in [pool.submit(self._create, component, create) for component, create in self._controllers()]:
                created.result()

    def start_controllers(self, timeout: float = 120) -> None:
        """The controller-manager and scheduler, once the API server is ready: before its RBAC bootstrap they
        are refused and exit."""
        self._start_group(self._controllers(), timeout)

    def _api(self):
        return (("etcd", self._etcd), ("kube-apiserver", self._apiserver))

    def _controllers(self):
        return (("kube-controller-manager", self._controller_manager), ("kube-scheduler", self._scheduler))

    def _create(self, component: str, create) -> None:
        if self.engine.container(self.name(component)) is None:
            create(start=False)

    def _start_group(self, group, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._start_all(group)
        self._wait_ready(max(1.0, deadline - time.monotonic()), [c for c, _ in group])

    def _start_all(self, group) -> None:
        """The network's owner first (the others join its namespace) until it serves, the rest made meanwhile
        (image, files), then the rest started at once."""
        rest = [(component, start) for component, start in group if component != NETWORK_OWNER]
        if len(rest) < len(group):
            self._rejoin(self._start(NETWORK_OWNER, dict(group)[NETWORK_OWNER]))
            with ThreadPoolExecutor(max(1, len(rest))) as pool:
                made = [pool.submit(self._create, component, start) for component, start in rest]
                self._wait_etcd()
                for future in made:
                    future.result()
        with ThreadPoolExecutor(max(1, len(rest))) as pool:
            for started in [pool.submit(self._start, component, start) for component, start in rest]:
                started.result()
        self._write_admin_kubeconfig()

    def _start(self, component: str, start) -> str:
        """Made if missing, else started again as it is (a stopped part comes back with its port, files and
        etcd's data: nothing still valid is made anew). What was done: "running", "started" or "made"."""
        existing = self.engine.container(self.name(component))
        if existing is not None and existing.status == "running":
            return "running"
        if existing is not None and existing.status in ("created", "exited"):  # never started (create_controllers), or stopped
            self.engine.start(existing)
            return "started"
        if existing is not None:  # dead, or stuck in a state Docker cannot start from
            self.engine.remove(existing, self.labels)
        start()
        return "made"

    def _rejoin(self, owner: str) -> None:
        """The owner's namespace is new when it was started again or made: a component still running holds the
        old one (no network but its loopback) and is stopped; one made for an owner now gone is made again, not
        started. Each then starts in its turn, as at a first `up`: the API server once etcd serves, the
        controllers once it is ready."""
        if owner == "running":
            return
        for component, make in (("kube-apiserver", self._apiserver), ("kube-controller-manager", self._controller_manager),
                                ("kube-scheduler", self._scheduler)):
            existing = self.engine.container(self.name(component))
            if existing is None:
                continue
            if owner == "made":
                self.engine.remove(existing, self.labels)
                make(start=False)
            elif existing.status == "running":
                self.engine.stop(existing)

    def _joined(self) -> str:
        return f"container:{self.name(NETWORK_OWNER)}"

    def _wait_etcd(self, timeout: float = 30) -> None:
        """Until etcd (just started) serves clients, as its log of this run says: the API server started before
        then dials in vain and waits out gRPC's reconnect backoff."""
        name, deadline = self.name("etcd"), time.monotonic() + timeout
        while True:
            container = self.engine.container(name)
            if container is None or container.status != "running":
                logs = self.engine.logs(name)[-1500:] if container else ""
                raise RuntimeFailure(f"etcd ({name}) is not running: {logs.strip()}")
            if ETCD_SERVING in self.engine.logs(name, since=_last_exit(container)) or time.monotonic() > deadline:
                return  # past the deadline the API server starts anyway, and its own wait says what is wrong
            time.sleep(0.02)

    def holds_cluster(self) -> bool:
        """Whether etcd's volume holds a cluster (one made by an earlier `up` of this instance, kept by a stop, an
        engine restart or its container removed by hand), or `up` makes a new one."""
        return any(v.name == self.name("etcd") for v in self.engine.volumes(self._labels("etcd")))

    def _etcd(self, start: bool = True) -> None:
        argv = ["etcd", "--name", "etcd", "--data-dir", "/var/lib/etcd", "--listen-client-urls", "http://127.0.0.1:2379",
                "--advertise-client-urls", "http://127.0.0.1:2379", "--listen-peer-urls", "http://127.0.0.1:2380",
                "--unsafe-no-fsync", "--heartbeat-interval=20", "--election-timeout=100", "--log-level", "info"]
        # Plain HTTP on the control plane's loopback, reached by the API server only. Its data in a volume of the
        # lab's (`down` removes it): a stopped etcd, the engine restarted, or its container removed by hand, comes
        # back with the cluster it held.
        # A lone member still waits out a randomized election timeout before it serves (0.1-1 s at the default
        # 1000 ms, and the API server waits with it); on its own loopback 100 ms is plenty. Logged at info: the
        # line that it serves is what the API server's start waits for.
        volume = self.name("etcd")
        if not self.holds_cluster():  # never a mount of a missing volume: Docker would make it unlabelled, and `down` leave it
            self.engine.create_volume(volume, self._labels("etcd"))
        self.engine.run(self.name("etcd"), self.images["etcd"], argv, labels=self._labels("etcd"), network=self.network,
                        aliases=[self.api_host], publish={f"{API_PORT}/tcp": ("127.0.0.1", self.api_port)},
                        volumes={volume: "/var/lib/etcd"}, volumes_read_only=False, environment=GO_RUNTIME_ENV, start=start)

    def _apiserver(self, start: bool = True) -> None:
        argv = ["kube-apiserver",
                "--etcd-servers=http://127.0.0.1:2379",
                f"--secure-port={API_PORT}", f"--tls-cert-file={PKI_DIR}/apiserver.crt", f"--tls-private-key-file={PKI_DIR}/apiserver.key",
                f"--client-ca-file={PKI_DIR}/ca.crt",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={PKI_DIR}/sa.pub", f"--service-account-signing-key-file={PKI_DIR}/sa.key",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                # Webhooks are reached through their Service's endpoints (pod IPs on the lab network), not a ClusterIP.
                "--enable-aggregator-routing=true",
                "--allow-privileged=true", "--profiling=false", "--v=1"]
        self.engine.run(self.name("kube-apiserver"), self.images["kube-apiserver"], argv, labels=self._labels("kube-apiserver"),
                        network_mode=self._joined(), environment=GO_RUNTIME_ENV, start=start,
                        files=self._pki_files("ca.crt", "apiserver.crt", "apiserver.key", "sa.pub", "sa.key"))

    def _component_files(self, identity: str, conf: str) -> dict[str, FileSpec]:
        return {f"/etc/kubernetes/{conf}": FileSpec(self.pki.kubeconfig(identity, self.internal_server).encode(), 0o600)}

    def _controller_manager(self, start: bool = True) -> None:
        conf = "/etc/kubernetes/controller-manager.conf"
        argv = ["kube-controller-manager", f"--kubeconfig={conf}", f"--authentication-kubeconfig={conf}", f"--authorization-kubeconfig={conf}",
                # The CSR signer: certificates.k8s.io requests are signed with the cluster CA.
                f"--cluster-signing-cert-file={PKI_DIR}/ca.crt", f"--cluster-signing-key-file={PKI_DIR}/ca.key",
                f"--root-ca-file={PKI_DIR}/ca.crt", f"--service-account-private-key-file={PKI_DIR}/sa.key",
                "--use-service-account-credentials=true", f"--cluster-name={self.instance}", "--leader-elect=false",
                # Each controller gets its own service account and token at start; at the default 20 requests/s
                # that alone takes seconds. A lab's cluster has one client of the sort: let it start at once.
                "--kube-api-qps=200", "--kube-api-burst=400",
                "--controllers=*,bootstrapsigner,tokencleaner", *self._serving_flags("controller-manager"), "--v=1"]
        files = {**self._component_files("controller-manager", "controller-manager.conf"),
                 **self._pki_files("ca.crt", "ca.key", "sa.key", "controller-manager-server.crt", "controller-manager-server.key")}
        self.engine.run(self.name("kube-controller-manager"), self.images["kube-controller-manager"], argv,
                        labels=self._labels("kube-controller-manager"), network_mode=self._joined(), files=files, start=start,
                        environment=GO_RUNTIME_ENV)

    def _scheduler(self, start: bool = True) -> None:
        conf = "/etc/kubernetes/scheduler.conf"
        argv = ["kube-scheduler", f"--kubeconfig={conf}", f"--authentication-kubeconfig={conf}", f"--authorization-kubeconfig={conf}",
                "--leader-elect=false", *self._serving_flags("scheduler"), "--v=1"]
        files = {**self._component_files("scheduler", "scheduler.conf"), **self._pki_files("scheduler-server.crt", "scheduler-server.key")}
        self.engine.run(self.name("kube-scheduler"), self.images["kube-scheduler"], argv, labels=self._labels("kube-scheduler"),
                        network_mode=self._joined(), files=files, start=start, environment=GO_RUNTIME_ENV)

    @staticmethod
    def _serving_flags(component: str) -> list[str]:
        """Its secure port's certificate, from the cluster CA. Without one the component makes a self-signed
        CA and certificate at start (two RSA-2048 keys): a few tenths of a second of CPU before its first
        controller runs, on a machine the booting cluster already keeps busy."""
        return [f"--tls-cert-file={PKI_DIR}/{component}-server.crt", f"--tls-private-key-file={PKI_DIR}/{component}-server.key"]

    def host_port(self) -> int:
        """The API server's port as published on the container holding its network namespace."""
        container = self.engine.container(self.name(NETWORK_OWNER))
        if container is None:
            raise RuntimeFailure(f"the control plane's network holder ({self.name(NETWORK_OWNER)}) is gone")
        bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{API_PORT}/tcp") or []
        if not bindings:
            raise RuntimeFailure("the API server's port is not published")
        return int(bindings[0]["HostPort"])

    def server(self) -> str:
        return f"https://127.0.0.1:{self.host_port()}"

    def _write_admin_kubeconfig(self) -> None:
        write_atomic(self.kubeconfig_path, self.pki.kubeconfig("admin", self.server()).encode(), 0o600)

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.pki.read("ca.crt").decode())
        store = self.pki.store
        context.load_cert_chain(store.path("admin.crt"), store.path("admin.key"))
        return context

    def _wait_ready(self, timeout: float, components: list[str], on_serving: Callable[[], None] | None = None) -> None:
        deadline = time.monotonic() + timeout
        url, context, last = f"{self.server()}/readyz", self._ssl_context(), ""
        next_inspect = time.monotonic() + 1
        while True:
            answered = ready = False
            try:
                with urllib.request.urlopen(url, context=context, timeout=5) as response:
                    answered, ready = True, response.status == 200
            except urllib.error.HTTPError as exc:  # not ready yet, but serving
                answered, last = True, str(exc)[:200]
            except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
                last = str(getattr(exc, "reason", exc))[:200]
            if answered and on_serving:
                on_serving()
                on_serving = None
            if ready:
                return
            if time.monotonic() < next_inspect:  # a crashed component, looked for once a second: dockerd shares the CPU with the boot
                time.sleep(0.1)
                continue
            next_inspect = time.monotonic() + 1
            for component in components:
                container = self.engine.container(self.name(component))
                if container is None or container.status != "running":
                    logs = self.engine.logs(self.name(component))[-1500:] if container else ""
                    raise RuntimeFailure(f"{component} ({self.name(component)}) is not running: {logs.strip()}")
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"the API server was not ready after {timeout:.0f}s ({last}); see `docker logs {self.name('kube-apiserver')}`")
            time.sleep(0.1)
