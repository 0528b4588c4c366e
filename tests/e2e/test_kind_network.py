"""The real kind v0.31.0 binary (built from its Go module by `make images`) and real Docker: the network kind
makes refuses a fixed address; the one lab makes first is reused by kind and accepts it. kind fails later,
for want of a real node image (a local image stands in), which is as far as this machine can take it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.providers.docker_cli import DockerCli

KIND = Path.home() / ".cache" / "lab" / "components" / "bin" / "kind"
NETWORK = "lab-kind-probe"
NODE_IMAGE = "lab.local/kind-node:stand-in"
pytestmark = [pytest.mark.skipif(not KIND.is_file(), reason="no kind binary: `make images` builds kind v0.31.0 from its Go module"),
              pytest.mark.engine_wide]  # kind's network takes a subnet from Docker's default pools: maybe the labs' kind network's


@pytest.fixture
def kind_world(docker_engine):
    docker_engine.images.get("lab.local/client:test").tag(NODE_IMAGE)
    yield
    subprocess.run([str(KIND), "delete", "cluster", "--name", "labprobe"], capture_output=True, timeout=120)
    for container in docker_engine.containers.list(all=True, filters={"label": "lab.dev/probe=static-ip"}):
        container.remove(force=True)
    for net in docker_engine.networks.list(names=[NETWORK]):
        net.remove()


def kind_create() -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "KIND_EXPERIMENTAL_DOCKER_NETWORK": NETWORK}
    return subprocess.run([str(KIND), "create", "cluster", "--name", "labprobe", "--image", NODE_IMAGE, "--wait", "0s"],
                          capture_output=True, text=True, timeout=300, env=env)


def test_real_kind_makes_a_network_that_refuses_a_fixed_address(kind_world, docker_engine):
    result = kind_create()
    assert result.returncode != 0  # no real node image here
    cli = DockerCli()
    subnets = cli.network_subnets(NETWORK)
    assert subnets, "kind made no network before failing"
    v4 = next(s for s in subnets if ":" not in s)
    address = v4.rsplit(".", 2)[0] + ".255.249"
    refused = cli.static_address_refused(NETWORK, address, "lab.local/client:test")
    assert refused and "user configured subnets" in refused


def test_real_kind_reuses_the_network_lab_made_first(kind_world, docker_engine):
    cli = DockerCli()
    cli.create_network(NETWORK, "10.213.0.0/16", "10.213.0.1", {"app.kubernetes.io/managed-by": "lab"})
    result = kind_create()
    assert result.returncode != 0
    assert "failed to ensure docker network" not in result.stderr
    assert cli.network_subnets(NETWORK) == ["10.213.0.0/16"]  # kept as lab made it
    assert cli.static_address_refused(NETWORK, "10.213.255.249", "lab.local/client:test") is None
