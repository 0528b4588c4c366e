"""The real Cilium chart 1.19.6 (the lab's pinned archive, resolved from the offline bundle) rendered by a real
helm (built from its Go module by `make images`) with the lab's values: the values pass the chart's own
values.schema.json, the images to side-load are the ones the chart runs, the rollouts the lab waits for exist."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import LABS, copy_lab, run_lab

COMPONENTS = Path.home() / ".cache" / "lab" / "components" / "bin"
HELM = shutil.which("helm") or (str(COMPONENTS / "helm") if (COMPONENTS / "helm").is_file() else None)

pytestmark = pytest.mark.skipif(HELM is None, reason="no helm binary: `make images` builds it from helm.sh/helm/v3")


@pytest.fixture
def with_helm(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", f"{Path(HELM).parent}:{os.environ['PATH']}")
    monkeypatch.setenv("LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def test_the_chart_images_are_the_real_charts(with_helm):
    result = run_lab("images", "inject-mtls", "--runtime", "kind", "-o", "json")
    assert result.exit_code == 0, result.stderr
    chart = {row["image"].split("@")[0].rsplit(":", 1)[0] for row in json.loads(result.stdout) if row["key"] == "chart:cilium"}
    assert {"quay.io/cilium/cilium", "quay.io/cilium/operator-generic", "quay.io/cilium/cilium-envoy", "quay.io/cilium/hubble-relay"} <= chart
    tags = [row["image"] for row in json.loads(result.stdout) if row["key"] == "chart:cilium"]
    assert "quay.io/cilium/cilium:v1.19.6" in tags  # useDigest false: found by tag once side-loaded


def test_the_lab_waits_for_rollouts_the_chart_really_has(with_helm, tmp_path):
    from orchestrator.context import LabContext
    from orchestrator.pki.manager import PkiManager
    from orchestrator.render.artifacts import chart_source
    from orchestrator.pki.store import PkiStore
    from orchestrator.providers.helm import HelmCli
    from orchestrator.render.artifacts import chart_values_file, render_lab

    lab = LabContext(workdir=tmp_path).load("inject-mtls")
    store = PkiStore(tmp_path / "pki", staged=True)
    PkiManager(lab.pki, store).ensure()
    chart = lab.charts[0]
    values = tmp_path / "values.yaml"
    values.write_bytes(render_lab(lab, store.read).files[chart_values_file(chart)])
    docs = [d for d in yaml.safe_load_all(HelmCli().template(release=chart.release, chart=chart_source(lab, chart), namespace=chart.namespace,
                                                             values=values, kube_version=lab.versions["kubernetes"])) if d]
    rendered = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for wait in chart.waits:
        if wait.kind == "rollout":
            assert (wait.params["kind"], wait.params["name"]) in rendered, wait
    envoy = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "cilium-config")["data"]
    assert envoy["enable-envoy-config"] == "true" and envoy["kube-proxy-replacement"] == "true"


def test_values_the_chart_refuses_are_refused(with_helm, tmp_path, monkeypatch):
    labs = tmp_path / "labs"
    labs.mkdir()
    copy_lab("inject-mtls", labs, LABS)
    shutil.copy(LABS.parent / "templates/cilium-values.yaml.j2", labs / "inject-mtls/templates/cilium-values.yaml.j2")
    values = labs / "inject-mtls/templates/cilium-values.yaml.j2"
    values.write_text(values.read_text().replace("kubeProxyReplacement: true", "kubeProxyReplacement: partial"))
    monkeypatch.setenv("LAB_PATH", str(labs))
    result = run_lab("images", "inject-mtls", "--runtime", "kind")
    assert result.exit_code == 1 and "kubeProxyReplacement" in result.stderr, result.stderr
