"""`lab doctor`: what this machine needs for a runtime, each problem with its fix.

`lab up` runs the same diagnosis as its preflight, so a missing tool fails fast with the same words.
"""

from __future__ import annotations

import ipaddress
import platform
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from orchestrator.errors import MissingPrerequisite
from orchestrator.providers import process
from orchestrator.spec import Lab

KIND_MIN_CPUS = 2
KIND_MIN_MEMORY = 4 * 1024**3


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""
    blocking: bool = True  # False: a warning that `up` reports but does not stop on

    @property
    def status(self) -> str:
        return "ok" if self.ok else ("MISSING" if self.blocking else "warning")


def _version(argv: list[str]) -> str | None:
    if process.which(argv[0]) is None:
        return None
    result = process.run(argv, check=False, timeout=20)
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if result.returncode == 0 and text else None


def _inotify() -> list[Finding]:
    findings = []
    for name, minimum in (("max_user_watches", 524288), ("max_user_instances", 512)):
        path = Path(f"/proc/sys/fs/inotify/{name}")
        if path.exists():
            value = int(path.read_text())
            findings.append(Finding(f"inotify {name}", value >= minimum, str(value),
                                    f"sudo sysctl fs.inotify.{name}={minimum} (kind nodes fail with 'too many open files')", blocking=False))
    return findings


def _routes() -> list[ipaddress.IPv4Network]:
    """IPv4 routes of the host, leaving out Docker's own bridges (the kind network itself is fine)."""
    nets = []
    try:
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            iface, dest, mask = fields[0], int(fields[1], 16), int(fields[7], 16)
            if dest and not iface.startswith(("br-", "docker", "veth")):
                addr = socket.inet_ntoa(dest.to_bytes(4, "little"))
                nets.append(ipaddress.ip_network(f"{addr}/{socket.inet_ntoa(mask.to_bytes(4, 'little'))}", strict=False))
    except (OSError, ValueError, IndexError):
        pass
    return nets


def rendered_compose(lab: Lab) -> dict:
    """The lab's compose file, rendered from its template alone (no PKI needed)."""
    if not lab.stack:
        return {}
    from orchestrator.catalog import shared_templates_dir
    from orchestrator.render.engine import make_environment, render_template

    env = make_environment([lab.templates_dir, shared_templates_dir()], {"pem": lambda name: ""})
    return yaml.safe_load(render_template(env, lab.stack["compose"], lab.context())) or {}


def published_ports(compose: dict) -> list[int]:
    """Host ports a compose document publishes."""
    ports = []
    for service in (compose.get("services") or {}).values():
        for entry in service.get("ports", []) or []:
            if isinstance(entry, dict):
                published = entry.get("published")
            else:
                parts = str(entry).split("/")[0].split(":")
                published = parts[-2] if len(parts) >= 2 else None
            if published and str(published).isdigit():
                ports.append(int(published))
    return sorted(set(ports))


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


def _existing_network(compose: dict, network: str) -> list[Finding]:
    """An existing network (kind made it, maybe with another subnet) must hold the addresses the stack pins."""
    from orchestrator.providers.docker_cli import DockerCli
    from orchestrator.runtimes.base import outside_subnets, pinned_in

    subnets = DockerCli().network_subnets(network)
    if subnets is None:
        return []
    outside = outside_subnets(pinned_in(compose).get(network, []), subnets)
    v4 = [s for s in subnets if ":" not in s]
    return [Finding(f"network {network}", not outside, f"exists with {', '.join(subnets)}" + (f"; {', '.join(outside)} is outside it" if outside else ""),
                    f"rerun with --set network.subnet={v4[0] if v4 else '<its IPv4 subnet>'}")]


def diagnose(lab: Lab, runtime: str, *, images: bool = True, lab_is_up: bool = False) -> list[Finding]:
    findings: list[Finding] = []
    docker = _version(["docker", "version", "--format", "{{.Server.Version}}"])
    findings.append(Finding("docker daemon", docker is not None, docker or "not reachable",
                            "start Docker (Docker Desktop, or `sudo systemctl start docker`)"))
    compose = _version(["docker", "compose", "version", "--short"])
    findings.append(Finding("docker compose v2", compose is not None, compose or "missing", "install the Docker Compose v2 plugin"))
    if docker is not None and runtime == "kind":
        info = _version(["docker", "info", "--format", "{{.NCPU}} {{.MemTotal}}"])
        if info and len(info.split()) == 2 and all(x.isdigit() for x in info.split()):
            cpus, memory = (int(x) for x in info.split())
            ok = cpus >= KIND_MIN_CPUS and memory >= KIND_MIN_MEMORY
            findings.append(Finding("docker resources", ok, f"{cpus} CPUs, {memory / 1024**3:.1f} GiB",
                                    f"give Docker at least {KIND_MIN_CPUS} CPUs and {KIND_MIN_MEMORY // 1024**3} GiB", blocking=False))
    if runtime == "kind":
        for tool, argv, wanted, blocking in (("kind", ["kind", "version"], lab.versions.get("kind", ""), True),
                                             ("helm", ["helm", "version", "--short"], "v3", True),
                                             ("kubectl", ["kubectl", "version", "--client"], "", False)):
            found = _version(argv)
            findings.append(Finding(tool, found is not None, found or "missing", f"install {tool} {wanted}".strip(), blocking=blocking))
        findings += _inotify()
        machine = platform.machine().lower()
        if machine in ("arm64", "aarch64"):
            findings.append(Finding("architecture", True, f"{machine}: every lab image must exist for arm64", blocking=False))
        if "microsoft" in platform.release().lower():
            findings.append(Finding("WSL2 kernel", False, platform.release(),
                                    "stock WSL2 kernels lack the TPROXY modules Cilium's L7 proxy needs; use a custom kernel", blocking=False))
        if platform.system() == "Darwin":
            findings.append(Finding("Docker Desktop on macOS", True, "kind network IPs are not reachable from the host; checks run inside", blocking=False))
    compose = rendered_compose(lab)
    network = lab.values.get("network", {}).get("name")
    if docker is not None and network:
        findings += _existing_network(compose, network)
    subnet = lab.values.get("network", {}).get("subnet")
    if subnet:
        clashes = [str(n) for n in _routes() if n.overlaps(ipaddress.ip_network(subnet))]
        findings.append(Finding("kind network subnet", not clashes, subnet + (f" overlaps {', '.join(clashes)}" if clashes else " free"),
                                "choose another with --set network.subnet=..."))
    if not lab_is_up:
        for port in published_ports(compose):
            findings.append(Finding(f"host port {port}", _port_free(port), "free" if _port_free(port) else "in use",
                                    f"free port {port} or override the lab's port value"))
    if images and docker is not None:
        for key, image in sorted(lab.images.items()):
            if runtime == "docker" and key == "kindNode":
                continue
            present = process.run(["docker", "image", "inspect", "--format", "{{.Id}}", image], check=False, timeout=30).returncode == 0
            findings.append(Finding(f"image {key}", present, image if present else f"{image} not present locally",
                                    "`lab images pull` (connected) or `lab images load` (offline bundle)", blocking=False))
    return findings


def blocking_problem(runtime: str, findings: list[Finding]) -> MissingPrerequisite | None:
    missing = [f for f in findings if not f.ok and f.blocking]
    if not missing:
        return None
    text = "; ".join(f"{f.check}: {f.detail}" for f in missing)
    return MissingPrerequisite(f"this machine is not ready for the {runtime} runtime: {text}", hint="; ".join(f.fix for f in missing) + " (details: `lab doctor`)")


def require(lab: Lab, runtime: str, lab_is_up: bool = False) -> None:
    """The preflight of `lab up`: the blocking part of the diagnosis."""
    problem = blocking_problem(runtime, diagnose(lab, runtime, images=False, lab_is_up=lab_is_up))
    if problem:
        raise problem


def doctor(ctx, lab_name: str, overrides, runtime: str | None, output: str) -> None:
    from orchestrator.lifecycle.pipeline import select_runtime

    lab = ctx.load(lab_name, overrides)
    runtime = select_runtime(lab, runtime, ctx.ui)
    findings = diagnose(lab, runtime)
    if output == "json":
        ctx.ui.json([{**asdict(f), "status": f.status} for f in findings])
    else:
        ctx.ui.table(["check", "status", "detail", "fix"], [[f.check, f.status, f.detail, "" if f.ok else f.fix] for f in findings])
    problem = blocking_problem(runtime, findings)
    if problem:
        raise problem
