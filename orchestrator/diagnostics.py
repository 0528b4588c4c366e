"""What a runtime needs from this machine, as findings with their fixes (`lab doctor`, and `lab up`'s
preflight, which is the blocking part of the same findings, so the wording is the same)."""

from __future__ import annotations

import ipaddress
import platform
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import MissingPrerequisite
from orchestrator.install import fix


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


def blocking_problem(runtime: str, findings: list[Finding], lab: str | None = None) -> MissingPrerequisite | None:
    """The findings that stop a run, as one error; `lab`: the lab whose `lab doctor` gives the details (none inside it)."""
    missing = [f for f in findings if not f.ok and f.blocking]
    if not missing:
        return None
    text = "; ".join(f"{f.check}: {f.detail}" for f in missing)
    details = f" (details: `lab doctor {lab} --runtime {runtime}`)" if lab else ""
    return MissingPrerequisite(f"this machine is not ready for the {runtime} runtime: {text}",
                               hint="; ".join(dict.fromkeys(f.fix for f in missing)) + details)


def graphviz_finding() -> Finding:
    """`lab guide` draws the topology with Graphviz; without it the guide carries the DOT source instead."""
    from orchestrator.providers.process import which

    found = which("dot")
    return Finding("graphviz (lab guide)", found is not None, found or "dot not found: `lab guide` writes the DOT source, not the picture",
                   "apt install graphviz (or brew install graphviz)", blocking=False)


def inotify() -> list[Finding]:
    findings = []
    for name, minimum in (("max_user_watches", 524288), ("max_user_instances", 512)):
        path = Path(f"/proc/sys/fs/inotify/{name}")
        if path.exists():
            value = int(path.read_text())
            findings.append(Finding(f"inotify {name}", value >= minimum, str(value),
                                    f"sudo sysctl fs.inotify.{name}={minimum} (kind nodes fail with 'too many open files')", blocking=False))
    return findings


def platform_notes() -> list[Finding]:
    findings = []
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        findings.append(Finding("architecture", True, f"{machine}: every lab image must exist for arm64", blocking=False))
    if "microsoft" in platform.release().lower():
        findings.append(Finding("WSL2 kernel", False, platform.release(),
                                "stock WSL2 kernels lack the TPROXY modules Cilium's L7 proxy needs; use a custom kernel", blocking=False))
    if platform.system() == "Darwin":
        findings.append(Finding("Docker Desktop on macOS", True, "kind network IPs are not reachable from the host; checks run inside", blocking=False))
    return findings


def host_routes() -> list[ipaddress.IPv4Network]:
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


def subnet_clash(subnet: str) -> Finding:
    network = ipaddress.ip_network(subnet, strict=False)
    clashes = [str(n) for n in host_routes() if n.version == network.version and n.overlaps(network)]
    return Finding("network subnet", not clashes, subnet + (f" overlaps {', '.join(clashes)}" if clashes else " free"),
                   "choose another with --set network.subnet=...")


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


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


def port_findings(compose: dict) -> list[Finding]:
    findings = []
    for port in published_ports(compose):
        free = port_free(port)
        findings.append(Finding(f"host port {port}", free, "free" if free else "in use", f"free port {port} or override the lab's port value"))
    return findings


def docker_findings(cli, stack: bool = True) -> list[Finding]:
    """The engine answers; for a lab with a compose stack, compose v2 is there and its exit status can be trusted
    (without one, nothing runs compose: its two probes are two CLI starts `up` would wait for in vain)."""
    from orchestrator.providers.docker_cli import HINT

    # The probes at once: each is a CLI start, and `lab up` waits for them before anything else.
    with ThreadPoolExecutor(3) as pool:
        version_asked = pool.submit(cli.server_version)
        compose_asked = (pool.submit(cli.compose_version), pool.submit(cli.compose_reports_failure)) if stack else None
        version = version_asked.result()
        findings = [Finding("docker daemon", version is not None, version or "not reachable", HINT)]
        if compose_asked is None:
            return findings
        compose = compose_asked[0].result()
        findings.append(Finding("docker compose v2", compose is not None, compose or "missing",
                                fix("`make tools`", "install the Docker Compose v2 plugin (docker-compose-plugin)")))
        reports_failure = compose_asked[1].result() if compose is not None and version is not None else True
    if not reports_failure:
        findings.append(Finding("docker compose exit status", False, "`docker compose` exits 0 even when it fails (a wrapper script?)",
                                fix("`make tools`", "link the real docker-compose binary as the Docker CLI plugin")))
    return findings


def network_findings(cli, network, pinned: list[str], probe_image: str | None = None) -> list[Finding]:
    """An existing network (kind made it, maybe with another subnet, or none) must hold the stack's pinned
    addresses, and must let a container have one (not so on a network created without a subnet, as kind does)."""
    from orchestrator.render.compose import outside_subnets

    findings = [subnet_clash(network.subnet)] if network.subnet else []
    subnets = cli.network_subnets(network.name)
    if subnets is None:
        return findings
    if pinned and probe_image:
        refused = cli.static_address_refused(network.name, pinned[0], probe_image)
        if refused:
            return findings + [Finding(f"network {network.name}", False, f"exists without a configured IPv4 subnet: Docker refuses the stack's fixed address ({refused[:120]})",
                                       f"remove it when nothing uses it (`kind delete clusters --all`, then `docker network rm {network.name}`): "
                                       f"lab creates it with {network.subnet} before kind does, and kind reuses it")]
    outside = outside_subnets(pinned, subnets)
    same_family = [s for s in subnets if (":" in s) == (":" in network.subnet)]
    detail = f"exists with {', '.join(subnets) or 'no configured subnet'}" + (f"; {', '.join(outside)} is outside it" if outside else "")
    if not same_family:
        fix = (f"the stack pins addresses, which Docker allows only on a network created with a subnet: `docker network rm {network.name}` "
               f"when nothing uses it (it is recreated with {network.subnet}), or --set network.name=<another network>")
    else:
        fix = f"rerun with --set network.subnet={same_family[0]}"
    findings.append(Finding(f"network {network.name}", not outside, detail, fix))
    return findings


def image_findings(cli, images: dict[str, str]) -> list[Finding]:
    return [Finding(f"image {key}", present, image if present else f"{image} not present locally",
                    "`lab images pull` (connected) or `lab images load` (offline bundle)", blocking=False)
            for key, image in sorted(images.items()) for present in [cli.image_present(image)]]


def artifact_findings(lab, names) -> list[Finding]:
    """The upstream files a runtime installs are at hand (bundle, cache or download) before anything starts."""
    from orchestrator.upstream import fetch

    findings = []
    for name in names:
        artifact = lab.artifacts[name]
        try:
            fetch(name, artifact.url, artifact.sha256)
            findings.append(Finding(f"artifact {name}", True, f"sha256 {artifact.sha256[:12]}... verified"))
        except MissingPrerequisite as exc:
            findings.append(Finding(f"artifact {name}", False, exc.message.removeprefix(f"artifact {name} "), exc.hint or ""))
    return findings
