"""End-to-end on the docker runtime: the real CLI, a real Docker engine, the lab.local images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.providers.process import COMPONENTS_BIN

REPO = Path(__file__).resolve().parents[2]
IMAGES = {key: f"lab.local/{key}:test" for key in ("haproxy", "echo", "client", "envoy")}
CONTROL_PLANE = {"etcd": "lab.local/etcd:test", "kubeApiserver": "lab.local/kube-apiserver:test",
                 "kubeControllerManager": "lab.local/kube-controller-manager:test", "kubeScheduler": "lab.local/kube-scheduler:test"}
INSTANCE_LABEL = "lab.dev/instance"


E2E = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (it appends them to the test ids)
def pytest_collection_modifyitems(items):
    """make test runs this tier on two workers side by side (`-n 2 --dist loadgroup`, scripts/test.sh). Instance
    names are the engine's (containers are named after them), so the tests of one instance share a group and run
    one after another on one worker: a test parametrized by lab (`name`) in its lab's group, a module's tests in the
    group its INSTANCE_GROUP names, every other in inject-mtls's. Tests marked engine_wide run alone afterwards."""
    for item in items:
        if E2E not in Path(str(item.path)).parents or item.get_closest_marker("xdist_group"):
            continue
        params = getattr(item, "callspec", None)
        group = (params.params.get("name") if params else None) or getattr(item.module, "INSTANCE_GROUP", "inject-mtls")
        item.add_marker(pytest.mark.xdist_group(group))


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
    missing = [ref for ref in [*IMAGES.values(), *CONTROL_PLANE.values()] if not client.images.list(name=ref)]
    if missing:
        pytest.fail(f"local images missing: {', '.join(missing)} (run `make images`)")
    return client


@pytest.fixture
def labdir(tmp_path, docker_engine):
    """A working directory with an images file pointing the lab at the local images; `down` at the end."""
    (tmp_path / "images.yaml").write_text((REPO / "images.local.yaml").read_text())
    yield tmp_path
    lab(tmp_path, "down", "inject-mtls")


def lab(cwd: Path, *args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """`lab ARGS` as a process. A wide line (COLUMNS): these tests read what a table says; how it wraps to a
    narrow terminal is tests/unit/test_ui.py's."""
    env = {**(env if env is not None else os.environ), "COLUMNS": "400"}  # over pytest-xdist workers' COLUMNS=80
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def up_args(*extra: str) -> list[str]:
    return ["up", "inject-mtls", "--runtime", "docker", "--images", "images.yaml", *extra]


def labelled(client, instance: str = "inject-mtls") -> dict[str, list[str]]:
    label = {"label": f"{INSTANCE_LABEL}={instance}"}
    return {
        # sparse: a container removed between the list and its inspection is not an error
        "containers": [c.attrs["Names"][0].lstrip("/") for c in client.containers.list(all=True, filters=label, sparse=True)],
        # The kind network is shared: the instance that made it carries its labels, and it stays while another
        # instance's containers use it (the tier runs instances side by side); the last one down removes it.
        "networks": [n.name for n in client.networks.list(filters=label) if not (n.name == "kind" and _held_or_gone(client, n))],
        "volumes": [v.name for v in client.volumes.list(filters=label)],
    }


def _held_or_gone(client, network, settle: float = 10.0) -> bool:
    """Another instance's containers are on it, or gone within `settle` seconds. A container another instance is
    starting or removing holds an endpoint inspect does not list yet (or any more), and Docker refuses to remove
    the network then: `down` leaves it to the last instance down, which removes it once its containers are gone."""
    import time

    import docker

    deadline = time.monotonic() + settle
    while True:
        try:
            if client.networks.get(network.id).attrs.get("Containers"):
                return True
        except docker.errors.NotFound:
            return True  # removed meanwhile by the last instance down: nothing left of this one
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def parse_json(stdout: str) -> dict:
    return json.loads(stdout)  # with -o json, stdout is the report alone


KUBECTL = COMPONENTS_BIN / "kubectl"  # built from its Go module by `make images`


def lab_kubectl(labdir: Path, instance: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """kubectl with an instance's admin kubeconfig, as the user runs it after `lab kubeconfig`."""
    config = str(labdir / ".lab" / instance / "kubeconfig")
    return subprocess.run([str(KUBECTL), "--kubeconfig", config, *args], capture_output=True, text=True, timeout=60, check=check)


def kubectl(kubeconfig: str, *args: str) -> dict:
    output = [] if "-o" in args or args[:1] == ("version",) else ["-o", "json"]
    output = ["-o", "json"] if args[:1] == ("version",) else output
    result = subprocess.run([str(KUBECTL), "--kubeconfig", kubeconfig, *args, *output],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
