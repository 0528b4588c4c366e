"""`lab bundle` and the one rule every artifact lookup follows: --bundle/LAB_BUNDLE, a bundle beside the project,
the cache, the URL. Offline here: a proxy that refuses stands for "no network"."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from orchestrator import upstream
from tests.helpers import REPO, run_lab


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No network, an empty cache, no LAB_BUNDLE; the bundle beside the project stays findable unless a test hides it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAB_BUNDLE", raising=False)
    monkeypatch.setenv("LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    return tmp_path


def test_a_bundle_written_here_is_what_another_laptop_resolves_from(offline, monkeypatch):
    made = run_lab("bundle", "inject-mtls", "webhook-ca-repair", "--out", "room", "--no-images", "-o", "json")
    assert made.exit_code == 0, made.stderr
    report = json.loads(made.stdout)
    assert len(report["artifacts"]) == 4 and report["images"] == []
    for line in (offline / "room" / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((offline / "room" / name).read_bytes()).hexdigest() == digest
    monkeypatch.setattr(upstream, "BESIDE_THE_PROJECT", ())  # the other laptop: nothing beside its project,
    shutil.rmtree(offline / "cache", ignore_errors=True)  # nothing cached
    cut_off = run_lab("render", "webhook-ca-repair", "--out", "a")
    assert cut_off.exit_code == 3 and "metallb-native" in cut_off.stderr and "--bundle" in cut_off.stderr
    assert run_lab("--bundle", "room", "render", "webhook-ca-repair", "--out", "a").exit_code == 0
    assert run_lab("--bundle", "room", "render", "starwars-policy", "--out", "b").exit_code == 3  # not in this bundle


def test_a_bundle_beside_the_project_is_found_without_being_named(offline, monkeypatch):
    beside = offline / "checkout-bundle"
    assert run_lab("bundle", "webhook-ca-repair", "--out", str(beside), "--no-images").exit_code == 0
    monkeypatch.setattr(upstream, "BESIDE_THE_PROJECT", (offline / "absent", beside))
    assert upstream.bundles() == [beside]
    shutil.rmtree(offline / "cache", ignore_errors=True)
    assert run_lab("render", "webhook-ca-repair", "--out", "r").exit_code == 0
    monkeypatch.setenv("LAB_BUNDLE", str(offline / "empty"))  # one named explicitly wins over the one beside
    assert upstream.bundles() == [offline / "empty"]


def test_bundle_validates_before_it_writes(offline):
    (offline / "mine").mkdir()
    (offline / "mine" / "notes.txt").write_text("mine")
    refused = run_lab("bundle", "inject-mtls", "--out", "mine", "--no-images")
    assert refused.exit_code == 2 and "notes.txt" in refused.stderr
    assert sorted(p.name for p in (offline / "mine").iterdir()) == ["notes.txt"]
    no_engine = run_lab("bundle", "inject-mtls", "--out", "room")  # images need the engine: exit 3, nothing written
    assert no_engine.exit_code == 3 and "Docker engine" in no_engine.stderr
    assert not (offline / "room").exists()
    assert run_lab("bundle", "--out", "room").exit_code == 2


def test_make_test_says_once_first_when_artifacts_cannot_resolve(offline):
    """scripts/check_artifacts.py (the first thing `make test` runs): one message naming LAB_BUNDLE, exit 3, fast."""
    env = {**os.environ, "LAB_BUNDLE": str(offline / "empty")}
    start = time.monotonic()
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "check_artifacts.py")], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 3 and time.monotonic() - start < 30
    assert len(result.stderr.strip().splitlines()) == 2 and "LAB_BUNDLE" in result.stderr
    env.pop("LAB_BUNDLE")
    assert run_lab("bundle", "inject-mtls", "k8s-user-certs", "webhook-ca-repair", "starwars-policy", "hubble-tls",
                   "--out", str(offline / "all"), "--no-images").exit_code == 0
    ok = subprocess.run([sys.executable, str(REPO / "scripts" / "check_artifacts.py")], capture_output=True, text=True,
                        env={**env, "LAB_BUNDLE": str(offline / "all")}, timeout=60)
    assert ok.returncode == 0, ok.stderr
