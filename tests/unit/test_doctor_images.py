"""doctor and images: what they report, from the lab spec and the machine's tools."""

import os
from pathlib import Path

from tests.helpers import run_lab


def test_images_lists_runtime_images(workdir):
    docker = run_lab("images", "inject-mtls", "--runtime", "docker", "-o", "json")
    keys = {i["key"] for i in __import__("json").loads(docker.stdout)}
    assert keys == {"client", "echo", "envoy", "haproxy"}
    kind = run_lab("images", "inject-mtls", "--runtime", "kind", "--set", "images.haproxy=lab.local/haproxy:test")
    assert "kindest/node:v1.35.0@sha256:" in kind.stdout and "lab.local/haproxy:test" in kind.stdout
    assert "quay.io/cilium/cilium:v1.19.6" in kind.stdout


def test_doctor_reports_missing_kind_with_exit_3(workdir, tmp_path, monkeypatch):
    bin_dir = tmp_path / "emptybin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    result = run_lab("doctor", "inject-mtls", "--runtime", "kind")
    assert result.exit_code == 3
    for text in ("docker daemon", "kind", "helm", "MISSING", "install kind v0.31.0"):
        assert text in result.stdout + result.stderr, text
