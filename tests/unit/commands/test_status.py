"""`lab env`: the exports a participant's shell evals to type the guide's commands, kubectl among them. Where no
kubectl is on PATH, the one `make images` built is appended to PATH (never put before the shell's own tools);
where one is, PATH is left alone."""

from __future__ import annotations

import json
import subprocess

import pytest

from orchestrator.spec.model import INSTANCE_LABEL, LAB_LABEL, OWNER_LABEL
from tests.helpers import run_lab


@pytest.fixture
def recorded_instance(world, tmp_path, monkeypatch):
    _labs, work, _fake = world
    folder = work / ".lab" / "inject-mtls"
    folder.mkdir(parents=True)
    labels = {OWNER_LABEL: "lab", LAB_LABEL: "inject-mtls", INSTANCE_LABEL: "inject-mtls"}
    (folder / "state.json").write_text(json.dumps({
        "lab": "inject-mtls", "instance": "inject-mtls", "runtime": "kind", "phase": "up",
        "instance_record": {"lab": "inject-mtls", "instance": "inject-mtls", "labels": labels,
                            "network": {"name": "kind", "subnet": "172.18.0.0/16"}},
        "runtime_state": {"created_cluster": "inject-mtls"}}))
    (folder / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    path, built = tmp_path / "path", tmp_path / "built dir"  # a space: the folder is quoted for the shell
    path.mkdir()
    built.mkdir()
    monkeypatch.setenv("PATH", str(path))
    monkeypatch.setattr("orchestrator.providers.process.COMPONENTS_BIN", built)
    return work, path, built


def _kubectl(folder) -> None:
    (folder / "kubectl").write_text("#!/bin/sh\necho kubectl of $0\n")
    (folder / "kubectl").chmod(0o755)


def _typed_after_env(exports: str, path: str) -> str:
    """What `kubectl` runs in a shell that evaluated the exports (PATH as the participant's shell has it)."""
    return subprocess.run(["/bin/sh", "-c", f"{exports}\nkubectl"], env={"PATH": path}, capture_output=True, text=True).stdout


def test_the_built_kubectl_is_appended_to_path_when_none_is_there(recorded_instance):
    work, path, built = recorded_instance
    _kubectl(built)
    result = run_lab("env", "inject-mtls")
    assert result.exit_code == 0, result.stderr
    assert f"export KUBECONFIG={work / '.lab/inject-mtls/kubeconfig'}" in result.stdout
    assert f"export PATH=\"$PATH\":'{built}'" in result.stdout
    assert _typed_after_env(result.stdout, str(path)) == f"kubectl of {built / 'kubectl'}\n"


def test_a_kubectl_on_path_is_left_alone(recorded_instance):
    _work, path, built = recorded_instance
    _kubectl(built)
    _kubectl(path)
    result = run_lab("env", "inject-mtls")
    assert result.exit_code == 0 and "PATH" not in result.stdout, result.stdout
    assert _typed_after_env(result.stdout, str(path)) == f"kubectl of {path / 'kubectl'}\n"


def test_no_kubectl_anywhere_exports_no_path(recorded_instance):
    result = run_lab("env", "inject-mtls")
    assert result.exit_code == 0 and "PATH" not in result.stdout and "KUBECONFIG" in result.stdout, result.stdout
