"""scripts/engine/runc-bounded, the test engine's OCI runtime on a machine that cannot grant every capability: what
it hands runc, and what it leaves out of a container's capabilities (a recording runc stands in for the real one)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

SHIM = Path(__file__).resolve().parents[3] / "scripts" / "engine" / "runc-bounded"
ALL_CAPS = (1 << 41) - 1
SYS_RESOURCE = 24


@pytest.fixture
def machine(tmp_path):
    """A recording runc, and a machine whose bounding set is what a test writes (cap_last_cap 40, as kernel 6.18)."""
    record = tmp_path / "argv.json"
    runc = tmp_path / "runc"
    runc.write_text(f"#!/usr/bin/env python3\nimport json, sys\njson.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n")
    runc.chmod(0o755)
    (tmp_path / "cap_last_cap").write_text("40\n")

    def run(*args: str, bounding: int = ALL_CAPS & ~(1 << SYS_RESOURCE)) -> list[str]:
        (tmp_path / "status").write_text(f"Name:\tx\nCapBnd:\t{bounding:016x}\n")
        env = {**os.environ, "LAB_REAL_RUNC": str(runc), "LAB_PROC_STATUS": str(tmp_path / "status"),
               "LAB_CAP_LAST_CAP": str(tmp_path / "cap_last_cap")}
        subprocess.run([str(SHIM), *args], check=True, env=env, capture_output=True, text=True)
        return json.loads(record.read_text()) if record.exists() else []

    return tmp_path, run


def _bundle(folder: Path, caps: list[str]) -> Path:
    folder.mkdir()
    config = folder / "config.json"
    config.write_text(json.dumps({"ociVersion": "1.0.2", "process": {"args": ["/sbin/init"], "capabilities": {
        "bounding": caps, "effective": caps, "permitted": caps}}, "root": {"path": "rootfs"}}))
    config.chmod(0o600)
    return config


def test_create_leaves_out_what_the_machine_cannot_grant_and_hands_over_unchanged(machine):
    tmp_path, run = machine
    config = _bundle(tmp_path / "bundle", ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"])
    argv = ["--root", "/run/runc", "--log", "/run/log.json", "--log-format", "json", "create", "--bundle", str(config.parent),
            "--pid-file", "/run/init.pid", "node1"]
    assert run(*argv) == argv
    spec = json.loads(config.read_text())
    assert spec["process"]["capabilities"] == {k: ["CAP_CHOWN", "CAP_SYS_ADMIN"] for k in ("bounding", "effective", "permitted")}
    assert spec["process"]["args"] == ["/sbin/init"] and spec["root"] == {"path": "rootfs"}
    assert config.stat().st_mode & 0o777 == 0o600


def test_exec_edits_its_process_file(machine):
    tmp_path, run = machine
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh"], "capabilities": {"bounding": ["CAP_SYS_RESOURCE", "CAP_NET_ADMIN"]}}))
    argv = ["--root", "/run/runc", "exec", "--process", str(process), "--detach", "--pid-file", "/run/p.pid", "node1"]
    assert run(*argv) == argv
    assert json.loads(process.read_text())["capabilities"] == {"bounding": ["CAP_NET_ADMIN"]}


def test_a_machine_that_grants_everything_changes_nothing(machine):
    tmp_path, run = machine
    config = _bundle(tmp_path / "bundle", ["CAP_SYS_RESOURCE"])
    before = config.read_text()
    assert run("create", "-b", str(config.parent), "c1", bounding=ALL_CAPS) == ["create", "-b", str(config.parent), "c1"]
    assert config.read_text() == before


def test_other_commands_go_straight_to_runc(machine):
    tmp_path, run = machine
    config = _bundle(tmp_path / "bundle", ["CAP_SYS_RESOURCE"])
    before = config.read_text()
    assert run("--root", "create", "state", "node1") == ["--root", "create", "state", "node1"]  # "create" here is --root's value
    assert config.read_text() == before


def test_it_names_what_the_machine_lacks(machine):
    tmp_path, _run = machine
    (tmp_path / "status").write_text(f"CapBnd:\t{ALL_CAPS & ~(1 << SYS_RESOURCE) & ~(1 << 39):016x}\n")
    env = {**os.environ, "LAB_PROC_STATUS": str(tmp_path / "status"), "LAB_CAP_LAST_CAP": str(tmp_path / "cap_last_cap")}
    out = subprocess.run([str(SHIM), "--unavailable"], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["CAP_SYS_RESOURCE", "CAP_BPF"]
