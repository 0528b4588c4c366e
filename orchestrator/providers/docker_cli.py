"""The docker CLI: Compose v2 (`docker compose`, the tool users already have) and image/network queries."""

from __future__ import annotations

from pathlib import Path

from orchestrator.providers import process


class ComposeStack:
    def __init__(self, project: str, compose_file: Path):
        self.project = project
        self.compose_file = compose_file

    def _argv(self, *args: str) -> list[str]:
        return ["docker", "compose", "-p", self.project, "-f", str(self.compose_file), *args]

    def up(self, timeout: int = 120) -> None:
        process.run(self._argv("up", "-d", "--wait", "--wait-timeout", str(timeout), "--remove-orphans"), timeout=timeout + 60)

    def down(self) -> None:
        # The file may be gone after a crash; `-p` alone identifies the project's containers.
        argv = self._argv("down", "-v", "--remove-orphans", "--timeout", "2") if self.compose_file.is_file() else \
            ["docker", "compose", "-p", self.project, "down", "-v", "--remove-orphans", "--timeout", "2"]
        process.run(argv, timeout=120)

    def logs(self) -> str:
        result = process.run(self._argv("logs", "--no-color", "--timestamps"), check=False, timeout=60)
        return result.stdout + result.stderr

    def ps(self) -> str:
        return process.run(self._argv("ps", "--format", "json"), check=False, timeout=30).stdout


class DockerCli:
    """Image and network queries through the docker CLI, for the kind runtime (which sees only CLIs)."""

    def image_present(self, ref: str) -> bool:
        return process.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], check=False, timeout=30).returncode == 0

    def save(self, ref: str, archive: Path, platform: str) -> None:
        process.run(["docker", "save", "--platform", platform, "-o", str(archive), ref], timeout=600)

    def network_subnets(self, name: str) -> list[str] | None:
        result = process.run(["docker", "network", "inspect", name, "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"],
                             check=False, timeout=30)
        return result.stdout.split() if result.returncode == 0 else None
