"""The kind CLI: clusters, kubeconfig, image side-loading, log export."""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import CommandFailed
from orchestrator.providers import process

HINT = "install kind v0.31+ (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"


class KindCli:
    def version(self) -> str:
        process.require("kind", HINT)
        return process.run(["kind", "version"], timeout=30).stdout.strip()

    def clusters(self) -> list[str]:
        return process.run(["kind", "get", "clusters"], timeout=60).stdout.split()

    @staticmethod
    def create_argv(name: str, config: Path, kubeconfig: Path | None = None) -> list[str]:
        return ["kind", "create", "cluster", "--name", name, "--config", str(config)] + (["--kubeconfig", str(kubeconfig)] if kubeconfig else [])

    def create(self, name: str, config: Path, kubeconfig: Path, network: str = "kind") -> None:
        # kind's own switch for a network other than "kind" (it reuses an existing network of that name).
        env = {"KIND_EXPERIMENTAL_DOCKER_NETWORK": network} if network != "kind" else None
        process.run(self.create_argv(name, config, kubeconfig), timeout=900, env=env)

    def export_kubeconfig(self, name: str, kubeconfig: Path) -> None:
        process.run(["kind", "export", "kubeconfig", "--name", name, "--kubeconfig", str(kubeconfig)], timeout=60)

    def load_image(self, name: str, image: str) -> None:
        process.run(["kind", "load", "docker-image", image, "--name", name], timeout=900)

    def load_archive(self, name: str, archive: Path) -> None:
        process.run(["kind", "load", "image-archive", str(archive), "--name", name], timeout=900)

    def delete(self, name: str, kubeconfig: Path) -> None:
        process.run(["kind", "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)], timeout=300)

    def export_logs(self, name: str, dest: Path) -> None:
        try:
            process.run(["kind", "export", "logs", str(dest), "--name", name], timeout=600)
        except CommandFailed as exc:
            (dest / "kind-export-error.txt").write_text(exc.message)
