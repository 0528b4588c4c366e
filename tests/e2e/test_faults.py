"""Faults after a good `up`: each ends `verify` quickly with exit 1 (3 when the engine is gone) and a message
naming the broken part; `down` still removes everything."""

from __future__ import annotations

import os
import time

import pytest

from tests.e2e.conftest import labelled, lab, up_args

NOTHING = {"containers": [], "networks": [], "volumes": []}
QUICK = 20.0  # seconds: a fault that waiting cannot heal is not retried for a minute per check


@pytest.fixture
def up(labdir, docker_engine):
    result = lab(labdir, *up_args())
    assert result.returncode == 0, result.stdout + result.stderr
    return labdir


def timed_verify(labdir, **env):
    start = time.monotonic()
    result = lab(labdir, "verify", "inject-mtls", env={**os.environ, **env} if env else None)
    return result, time.monotonic() - start


@pytest.mark.parametrize("fault, broken, expected", [
    ("remove", "lab-inject-mtls-haproxy-1", "container lab-inject-mtls-haproxy-1 (compose service haproxy) does not exist"),
    ("stop", "lab-inject-mtls-haproxy-1", "container lab-inject-mtls-haproxy-1 is exited"),
    ("kill", "lab-inject-mtls-envoy", "container lab-inject-mtls-envoy is exited (exit code 137)"),
])
def test_a_broken_part_is_named_at_once(up, docker_engine, fault, broken, expected):
    container = docker_engine.containers.get(broken)
    {"remove": lambda: container.remove(force=True), "stop": lambda: container.stop(timeout=1), "kill": container.kill}[fault]()
    result, seconds = timed_verify(up)
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected in result.stdout + result.stderr
    assert seconds < QUICK, f"verify took {seconds:.1f}s"
    assert lab(up, "down", "inject-mtls").returncode == 0
    assert labelled(docker_engine) == NOTHING


def test_a_dead_engine_is_a_missing_prerequisite(up, docker_engine, tmp_path):
    result, seconds = timed_verify(up, DOCKER_HOST=f"unix://{tmp_path}/dead.sock")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "cannot reach the Docker daemon" in result.stderr and seconds < QUICK
    assert lab(up, "down", "inject-mtls").returncode == 0
    assert labelled(docker_engine) == NOTHING


def test_a_removed_pod_container_is_recreated_by_the_node_and_the_proxy_follows(up, docker_engine):
    """A pod's container removed by hand comes back as Kubernetes would bring it back (the node restarts it),
    and the emulated Cilium puts the proxy and the redirect into the new one, as it regenerates an endpoint."""
    old = docker_engine.containers.get("lab-inject-mtls-curl")
    old.remove(force=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            new = docker_engine.containers.get("lab-inject-mtls-curl")
            if new.id != old.id and new.status == "running":
                break
        except Exception:
            pass
        assert time.monotonic() < deadline, "the node did not recreate the pod's container"
        time.sleep(0.2)
    result, seconds = timed_verify(up)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed, 0 failed" in result.stdout
    assert lab(up, "down", "inject-mtls").returncode == 0
    assert labelled(docker_engine) == NOTHING
