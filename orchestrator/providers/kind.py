"""The kind CLI: clusters, kubeconfig, image side-loading, log export."""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import CommandFailed, MissingPrerequisite
from orchestrator.providers import process

HINT = "install kind v0.31+ (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"


def find_kind() -> str | None:
    """kind on PATH, else the one `make images` builds: a cluster `lab up --runtime kind` made with it is still
    deleted by `lab down` in a shell without it on PATH."""
    return process.which_or_built("kind")


class KindCli:
    def _run(self, argv: list[str], **kwargs) -> process.Result:
        kind = find_kind()
        if kind is None:
            raise MissingPrerequisite("kind not found on PATH", hint=HINT + "; or `make images`, which builds it from its Go module")
        return process.run([kind, *argv[1:]], **kwargs)

    def version(self) -> str:
        return self._run(["kind", "version"], timeout=30).stdout.strip()

    def clusters(self) -> list[str]:
        return self._run(["kind", "get", "clusters"], timeout=60).stdout.split()

    @staticmethod
    def create_argv(name: str, config: Path, kubeconfig: Path | None = None) -> list[str]:
        return ["kind", "create", "cluster", "--name", name, "--config", str(config)] + (["--kubeconfig", str(kubeconfig)] if kubeconfig else [])

    def create(self, name: str, config: Path, kubeconfig: Path, network: str = "kind") -> None:
        # kind's own switch for a network other than "kind" (it reuses an existing network of that name).
        env = {"KIND_EXPERIMENTAL_DOCKER_NETWORK": network} if network != "kind" else None
        self._run(self.create_argv(name, config, kubeconfig), timeout=900, env=env)

    def export_kubeconfig(self, name: str, kubeconfig: Path) -> None:
        self._run(["kind", "export", "kubeconfig", "--name", name, "--kubeconfig", str(kubeconfig)], timeout=60)

    def load_image(self, name: str, image: str) -> None:
        self._run(["kind", "load", "docker-image", image, "--name", name], timeout=900)

    def load_archive(self, name: str, archive: Path) -> None:
        self._run(["kind", "load", "image-archive", str(archive), "--name", name], timeout=900)

    def delete(self, name: str, kubeconfig: Path) -> None:
        self._run(["kind", "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)], timeout=300)

    def export_logs(self, name: str, dest: Path) -> None:
        try:
            self._run(["kind", "export", "logs", str(dest), "--name", name], timeout=600)
        except CommandFailed as exc:
            (dest / "kind-export-error.txt").write_text(exc.message)
