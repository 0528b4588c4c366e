"""`lab doctor`: what this machine needs for a runtime, each problem with its fix (exit 3 if any)."""

from __future__ import annotations

import ipaddress
import platform

import socket
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import MissingPrerequisite
from orchestrator.providers import process
from orchestrator.spec import Lab


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""


def _version(argv: list[str]) -> str | None:
    if process.which(argv[0]) is None:
        return None
    result = process.run(argv, check=False, timeout=20)
    return (result.stdout or result.stderr).strip().splitlines()[0] if result.returncode == 0 else None


def _inotify() -> list[Finding]:
    findings = []
    for name, minimum in (("max_user_watches", 524288), ("max_user_instances", 512)):
        path = Path(f"/proc/sys/fs/inotify/{name}")
        if not path.exists():
            continue
        value = int(path.read_text())
        findings.append(Finding(f"inotify {name}", value >= minimum, str(value),
                                f"sudo sysctl fs.inotify.{name}={minimum} (kind nodes fail with 'too many open files')"))
    return findings


def _routes() -> list[ipaddress.IPv4Network]:
    nets = []
    try:
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            dest, mask, iface = int(fields[1], 16), int(fields[7], 16), fields[0]
            if dest and not iface.startswith(("br-", "docker", "veth")):
                nets.append(ipaddress.ip_network((socket.inet_ntoa(dest.to_bytes(4, "little")), socket.inet_ntoa(mask.to_bytes(4, "little")))))
    except (OSError, ValueError, IndexError):
        pass
    return nets


def diagnose(lab: Lab, runtime: str) -> list[Finding]:
    findings: list[Finding] = []
    docker = _version(["docker", "version", "--format", "{{.Server.Version}}"])
    findings.append(Finding("docker daemon", docker is not None, docker or "not reachable",
                            "start Docker (Docker Desktop, or `sudo systemctl start docker`)"))
    compose = _version(["docker", "compose", "version", "--short"])
    findings.append(Finding("docker compose v2", compose is not None, compose or "missing", "install the Docker Compose v2 plugin"))
    if runtime == "kind":
        for tool, argv, wanted in (("kind", ["kind", "version"], lab.versions.get("kind", "")),
                                   ("helm", ["helm", "version", "--short"], "v3"),
                                   ("kubectl", ["kubectl", "version", "--client"], "")):
            found = _version(argv)
            ok = found is not None and (not wanted or wanted.lstrip("v").split(".")[0] in found)
            findings.append(Finding(tool, found is not None, found or "missing",
                                    f"install {tool}{' ' + wanted if wanted else ''}" if not ok else ""))
        findings += _inotify()
        machine = platform.machine().lower()
        if machine in ("arm64", "aarch64"):
            findings.append(Finding("architecture", True, machine, "every lab image must exist for arm64 (override with --set images.NAME=...)"))
        if "microsoft" in platform.release().lower():
            findings.append(Finding("WSL2 kernel", False, platform.release(), "stock WSL2 kernels lack the TPROXY modules Cilium's L7 proxy needs; use a custom kernel"))
    subnet = lab.values.get("network", {}).get("subnet")
    if subnet:
        clashes = [str(n) for n in _routes() if n.overlaps(ipaddress.ip_network(subnet))]
        findings.append(Finding("kind network subnet", not clashes, f"{subnet}" + (f" overlaps {', '.join(clashes)}" if clashes else " free"),
                                "choose another with --set network.subnet=..."))
    if docker is not None:
        for key, image in sorted(lab.images.items()):
            if runtime == "docker" and key == "kindNode":
                continue
            present = process.run(["docker", "image", "inspect", "--format", "{{.Id}}", image], check=False, timeout=30).returncode == 0
            findings.append(Finding(f"image {key}", present, image if present else f"{image} not present locally",
                                    "pull it now (`lab images pull`) or load a bundle (`lab images load`)" if not present else ""))
    return findings


def doctor(ctx, lab_name: str, overrides, runtime: str | None, output: str) -> None:
    from orchestrator.lifecycle.pipeline import select_runtime

    lab = ctx.load(lab_name, overrides)
    runtime = select_runtime(lab, runtime, ctx.ui)
    findings = diagnose(lab, runtime)
    # Missing images are pulled at `up` when a registry is reachable: reported, but not fatal.
    blocking = [f for f in findings if not f.ok and not f.check.startswith("image ")]
    if output == "json":
        ctx.ui.json([f.__dict__ for f in findings])
    else:
        ctx.ui.table(["check", "status", "detail", "fix"], [[f.check, "ok" if f.ok else "MISSING", f.detail, "" if f.ok else f.fix] for f in findings])
    if blocking:
        raise MissingPrerequisite(f"{len(blocking)} prerequisite(s) missing for the {runtime} runtime: " + ", ".join(f.check for f in blocking),
                                  hint=blocking[0].fix)



