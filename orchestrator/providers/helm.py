"""The helm CLI: idempotent `helm upgrade --install` of a pinned chart with rendered values, and `helm
template` of the same chart (which images it runs). A chart is a repository chart at a version, or a local
archive (a lab's pinned artifact: nothing is fetched)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.install import fix
from orchestrator.errors import MissingPrerequisite
from orchestrator.providers import process

HINT = "install helm 3 (https://helm.sh/docs/intro/install/)"


@dataclass(frozen=True)
class ChartRef:
    chart: str  # a name in the repo, an oci:// reference, or the path of a chart archive
    version: str | None = None  # None for an archive: it is one version
    repo: str | None = None

    def argv(self) -> list[str]:
        argv = [self.chart]
        if self.version:
            argv += ["--version", self.version]
        if self.repo:
            argv += ["--repo", self.repo]
        return argv


def _values(values: Path | Sequence[Path]) -> list[str]:
    """--values for each file, later ones over earlier ones (helm merges them in order)."""
    return [arg for path in ([values] if isinstance(values, Path) else values) for arg in ("--values", str(path))]


def find_helm() -> str | None:
    """helm on PATH, else the one `make images` builds from its Go module: the one lookup every caller uses."""
    return process.which_or_built("helm")


class HelmCli:
    def _helm(self) -> str:
        found = find_helm()
        if found is None:
            raise MissingPrerequisite("helm not found on PATH", hint=HINT + fix("; or `make images`, which builds it from its Go module", ""))
        return found

    def version(self) -> str:
        return process.run([self._helm(), "version", "--short"], timeout=30).stdout.strip()

    def template(self, *, release: str, chart: ChartRef, namespace: str, values: Path | Sequence[Path], kube_version: str | None = None) -> str:
        """The chart's manifests rendered locally with the given values, for the cluster's Kubernetes version
        (a chart's kubeVersion constraint and capabilities see it); nothing is installed."""
        argv = [self._helm(), "template", release, *chart.argv(), "--namespace", namespace, *_values(values)]
        if kube_version:
            argv += ["--kube-version", kube_version]
        return process.run(argv, timeout=300).stdout

    @staticmethod
    def upgrade_install_argv(*, release: str, chart: ChartRef, namespace: str, values: Path | Sequence[Path],
                             kubeconfig: Path | None = None) -> list[str]:
        argv = ["helm", "upgrade", "--install", release, *chart.argv(), "--namespace", namespace, *_values(values)]
        return argv + (["--kubeconfig", str(kubeconfig)] if kubeconfig else [])

    def upgrade_install(self, *, release: str, chart: ChartRef, namespace: str, values: Path | Sequence[Path], kubeconfig: Path) -> None:
        argv = self.upgrade_install_argv(release=release, chart=chart, namespace=namespace, values=values, kubeconfig=kubeconfig)
        process.run([self._helm(), *argv[1:]], timeout=900)
