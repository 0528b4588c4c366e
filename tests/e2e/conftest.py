"""End-to-end on the docker runtime: the real CLI, a real Docker engine, the lab.local images."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

IMAGES = {key: f"lab.local/{key}:test" for key in ("haproxy", "echo", "client", "envoy")}
INSTANCE_LABEL = "lab.dev/instance"


def docker_client():
    import docker

    try:
        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:
        pytest.fail(f"no Docker engine: {exc} (make test starts one: scripts/docker-engine.sh start)")


@pytest.fixture(scope="session")
def docker_engine():
    client = docker_client()
    missing = [ref for ref in IMAGES.values() if not client.images.list(name=ref)]
    if missing:
        pytest.fail(f"local images missing: {', '.join(missing)} (run `make images`)")
    return client


@pytest.fixture
def labdir(tmp_path, docker_engine):
    """A working directory with an images file pointing the lab at the local images; `down` at the end."""
    (tmp_path / "images.yaml").write_text("images:\n" + "".join(f"  {k}: {v}\n" for k, v in IMAGES.items()))
    yield tmp_path
    lab(tmp_path, "down", "inject-mtls")


def lab(cwd: Path, *args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def up_args(*extra: str) -> list[str]:
    return ["up", "inject-mtls", "--runtime", "docker", "-f", "images.yaml", *extra]


def labelled(client, instance: str = "inject-mtls") -> dict[str, list[str]]:
    label = {"label": f"{INSTANCE_LABEL}={instance}"}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=label)],
        "networks": [n.name for n in client.networks.list(filters=label)],
        "volumes": [v.name for v in client.volumes.list(filters=label)],
    }


def parse_json(stdout: str) -> dict:
    return json.loads(stdout)  # with -o json, stdout is the report alone
