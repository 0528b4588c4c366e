"""The helm CLI: idempotent `helm upgrade --install` of a pinned chart with rendered values."""

from __future__ import annotations

from pathlib import Path

from orchestrator.providers import process

HINT = "install helm 3 (https://helm.sh/docs/intro/install/)"


class HelmCli:
    def version(self) -> str:
        process.require("helm", HINT)
        return process.run(["helm", "version", "--short"], timeout=30).stdout.strip()

    def show_values(self, chart: str, version: str, repo: str | None = None) -> str:
        argv = ["helm", "show", "values", chart, "--version", version]
        if repo:
            argv += ["--repo", repo]
        return process.run(argv, timeout=300).stdout

    def template(self, *, release: str, chart: str, version: str, namespace: str, values: Path, repo: str | None = None) -> str:
        """The chart's manifests rendered locally with the given values (nothing is installed)."""
        argv = ["helm", "template", release, chart, "--version", version, "--namespace", namespace, "--values", str(values)]
        if repo:
            argv += ["--repo", repo]
        return process.run(argv, timeout=300).stdout

    def upgrade_install(self, *, release: str, chart: str, version: str, namespace: str, values: Path, kubeconfig: Path,
                        repo: str | None = None) -> None:
        argv = ["helm", "upgrade", "--install", release, chart, "--version", version, "--namespace", namespace,
                "--values", str(values), "--kubeconfig", str(kubeconfig)]
        if repo:
            argv += ["--repo", repo]
        process.run(argv, timeout=900)
