"""The helm CLI: idempotent `helm upgrade --install` of a pinned chart with rendered values, and `helm
template` of the same chart (which images it runs). A chart is a repository chart at a version, or a local
archive (a lab's pinned artifact: nothing is fetched)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


class HelmCli:
    def version(self) -> str:
        process.require("helm", HINT)
        return process.run(["helm", "version", "--short"], timeout=30).stdout.strip()

    def template(self, *, release: str, chart: ChartRef, namespace: str, values: Path, kube_version: str | None = None) -> str:
        """The chart's manifests rendered locally with the given values, for the cluster's Kubernetes version
        (a chart's kubeVersion constraint and capabilities see it); nothing is installed."""
        argv = ["helm", "template", release, *chart.argv(), "--namespace", namespace, "--values", str(values)]
        if kube_version:
            argv += ["--kube-version", kube_version]
        return process.run(argv, timeout=300).stdout

    @staticmethod
    def upgrade_install_argv(*, release: str, chart: ChartRef, namespace: str, values: Path, kubeconfig: Path | None = None) -> list[str]:
        argv = ["helm", "upgrade", "--install", release, *chart.argv(), "--namespace", namespace, "--values", str(values)]
        return argv + (["--kubeconfig", str(kubeconfig)] if kubeconfig else [])

    def upgrade_install(self, *, release: str, chart: ChartRef, namespace: str, values: Path, kubeconfig: Path) -> None:
        process.run(self.upgrade_install_argv(release=release, chart=chart, namespace=namespace, values=values, kubeconfig=kubeconfig),
                    timeout=900)
