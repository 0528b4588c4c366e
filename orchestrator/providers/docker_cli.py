"""The docker CLI, the one place that builds docker command lines: Compose v2 (`docker compose`, the tool
users already have) and the image, network and engine queries of doctor, images and the kind runtime."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.errors import PermanentFailure
from orchestrator.install import fix
from orchestrator.providers import process
from orchestrator.spec.model import owned, ownership

HINT = fix("start one with `make engine`", "start Docker (Docker Desktop, or `sudo systemctl start docker`) and check `docker info`")


class ComposeStack:
    def __init__(self, project: str, compose_file: Path):
        self.project = project
        self.compose_file = compose_file

    def _argv(self, *args: str) -> list[str]:
        return ["docker", "compose", "-p", self.project, "-f", str(self.compose_file), *args]

    def up_argv(self, timeout: int = 120) -> list[str]:
        return self._argv("up", "-d", "--wait", "--wait-timeout", str(timeout), "--remove-orphans")

    def up(self, timeout: int = 120) -> None:
        process.run(self.up_argv(timeout), timeout=timeout + 60)

    def foreign_containers(self, owner: dict[str, str]) -> list[str]:
        """Containers of this compose project that lack the owner's ownership labels (not made by this instance)."""
        wanted = ownership(owner)
        fields = "\t".join(["{{.Names}}"] + [f'{{{{.Label "{key}"}}}}' for key in wanted])
        result = process.run(["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={self.project}", "--format", fields],
                             timeout=60)
        foreign = []
        for line in filter(None, result.stdout.splitlines()):
            name, *values = line.split("\t")
            if values != list(wanted.values()):
                foreign.append(name)
        return foreign

    def down(self, owner: dict[str, str]) -> None:
        """The project's containers, networks and volumes, once every container of it is proven the owner's: compose
        removes by project name, which another stack could share."""
        foreign = self.foreign_containers(owner)
        if foreign:
            raise PermanentFailure(f"compose project {self.project} holds container(s) this lab instance did not make: "
                                   f"{', '.join(foreign[:5])}; `lab` leaves the project alone (remove them yourself)")
        # The file may be gone after a crash; `-p` alone identifies the project's containers.
        argv = self._argv("down", "-v", "--remove-orphans", "--timeout", "2") if self.compose_file.is_file() else \
            ["docker", "compose", "-p", self.project, "down", "-v", "--remove-orphans", "--timeout", "2"]
        process.run(argv, timeout=120)

    def logs(self) -> str:
        result = process.run(self._argv("logs", "--no-color", "--timestamps"), check=False, timeout=60)
        return result.stdout + result.stderr

    def ps(self) -> str:
        return process.run(self._argv("ps", "--format", "json"), check=False, timeout=30).stdout


def _first_line(argv: list[str], timeout: float = 20) -> str | None:
    if process.which(argv[0]) is None:
        return None
    result = process.run(argv, check=False, timeout=timeout)
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if result.returncode == 0 and text else None


class DockerCli:
    def server_version(self) -> str | None:
        return _first_line(["docker", "version", "--format", "{{.Server.Version}}"])

    def compose_version(self) -> str | None:
        return _first_line(["docker", "compose", "version", "--short"])

    def compose_reports_failure(self) -> bool:
        """Some wrappers of `docker compose` exit 0 whatever happened: ask it for a file that does not exist."""
        result = process.run(["docker", "compose", "-f", "/nonexistent/lab-probe/compose.yaml", "config", "--quiet"], check=False, timeout=20)
        return result.returncode != 0

    def resources(self) -> tuple[int, int] | None:
        """CPUs and memory (bytes) the engine has."""
        info = _first_line(["docker", "info", "--format", "{{.NCPU}} {{.MemTotal}}"])
        if info and len(info.split()) == 2 and all(x.isdigit() for x in info.split()):
            cpus, memory = (int(x) for x in info.split())
            return cpus, memory
        return None

    def cgroup_version(self) -> str | None:
        """"1" or "2": the cgroup version the engine runs its containers with (kind's nodes, their kubelets)."""
        return _first_line(["docker", "info", "--format", "{{.CgroupVersion}}"])

    @staticmethod
    def attach_argv(container: str, argv: list[str], tty: bool) -> list[str]:
        """`docker exec` with the caller's stdin (and a terminal when tty), for a person at it."""
        return ["docker", "exec", "-i", *(["-t"] if tty else []), container, *argv]

    @staticmethod
    def logs_argv(container: str, follow: bool, tail: int | None) -> list[str]:
        return ["docker", "logs", *(["--follow"] if follow else []), *(["--tail", str(tail)] if tail is not None else []), container]

    def states(self, label: str) -> list[tuple[str, str]]:
        """(name, state) of every container with the label (`key=value`), running or not."""
        result = process.run(["docker", "ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}\t{{.State}}"], timeout=30)
        return [tuple(line.split("\t", 1)) for line in result.stdout.splitlines() if "\t" in line]

    def exec_output(self, container: str, argv: list[str], timeout: float = 60) -> str:
        """stdout of argv run in a container (a kind node): read into memory, never echoed."""
        return process.run(["docker", "exec", container, *argv], timeout=timeout).stdout

    def image_present(self, ref: str) -> bool:
        return process.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], check=False, timeout=30).returncode == 0

    def pull(self, ref: str) -> None:
        process.run(["docker", "pull", ref], timeout=1800)

    def save(self, refs: list[str], archive: Path, platform: str | None = None) -> None:
        argv = ["docker", "save"] + (["--platform", platform] if platform else []) + ["-o", str(archive), *refs]
        process.run(argv, timeout=3600)

    def load(self, archive: Path) -> str:
        return process.run(["docker", "load", "-i", str(archive)], timeout=3600).stdout.strip()

    def network_subnets(self, name: str) -> list[str] | None:
        """The network's subnets (IPv4 and IPv6), or None when it does not exist."""
        result = process.run(["docker", "network", "inspect", name, "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"],
                             check=False, timeout=30)
        return result.stdout.split() if result.returncode == 0 else None

    def static_address_refused(self, network: str, address: str, image: str) -> str | None:
        """Whether Docker refuses a container a fixed address on the network (it does on a network created
        without a user-configured subnet, which `network inspect` does not tell apart; it says so when the
        container starts): run one that exits at once and see."""
        result = process.run(["docker", "run", "--rm", "--network", network, "--ip", address, "--label", "lab.dev/probe=static-ip",
                              "--entrypoint", "true", image], check=False, timeout=60)
        text = (result.stderr or result.stdout).strip()
        return text if result.returncode != 0 and "user configured subnets" in text else None

    def network_labels(self, name: str) -> dict[str, str] | None:
        result = process.run(["docker", "network", "inspect", name, "--format", "{{json .Labels}}"], check=False, timeout=30)
        if result.returncode != 0:
            return None
        try:
            labels = json.loads(result.stdout or "null")
        except ValueError:
            return None
        return labels if isinstance(labels, dict) else {}

    def remove_network(self, name: str, owner: dict[str, str]) -> bool:
        """Remove a network the owner made (it carries its ownership labels); False when it is not the owner's or
        Docker refuses (still in use)."""
        if not owned(self.network_labels(name), owner):
            return False
        return process.run(["docker", "network", "rm", name], check=False, timeout=60).returncode == 0

    def create_network(self, name: str, subnet: str, gateway: str, labels: dict[str, str]) -> None:
        argv = ["docker", "network", "create", "--driver", "bridge", "--subnet", subnet, "--gateway", gateway]
        for key, value in sorted(labels.items()):
            argv += ["--label", f"{key}={value}"]
        process.run(argv + [name], timeout=60)
