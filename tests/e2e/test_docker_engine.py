"""The one way to the Docker engine, against a real engine: what instances started at once meet there."""

from __future__ import annotations

import pytest

from orchestrator.errors import RuntimeFailure
from orchestrator.providers.docker import DockerEngine

INSTANCE_GROUP = "docker-engine"  # the tier's side-by-side groups: tests/e2e/conftest.py

NAME, SUBNET = "lab-test-shared-net", "172.29.0.0/16"
LABELS = {"app.kubernetes.io/managed-by": "lab", "lab.dev/lab": "test", "lab.dev/instance": "test-a"}


@pytest.fixture
def engine(docker_engine):
    engine = DockerEngine()
    yield engine
    existing = engine.network(NAME)
    if existing is not None:
        existing.remove()


def test_a_network_another_instance_made_since_the_look_is_used(engine, monkeypatch):
    """Two instances of a lab started at once both find the shared network absent; the second's create is refused
    by Docker (the subnet overlaps the first's), and it uses the network the first made."""
    engine.ensure_network(NAME, SUBNET, LABELS)  # the first instance's
    looks = []
    real = engine.network
    monkeypatch.setattr(engine, "network", lambda name: looks.append(name) or (None if len(looks) == 1 else real(name)))
    assert engine.ensure_network(NAME, SUBNET, {**LABELS, "lab.dev/instance": "test-b"}) == [SUBNET]
    assert len(looks) == 2  # absent at the look, there once Docker refused


def test_a_network_docker_refuses_for_another_reason_is_said(engine):
    """A subnet another network of another name holds (Docker's default bridge): refused, and said."""
    bridge = engine.network("bridge").attrs["IPAM"]["Config"][0]["Subnet"]
    with pytest.raises(RuntimeFailure, match=f"docker could not create network {NAME} \\({bridge}\\): .*overlaps"):
        engine.ensure_network(NAME, bridge, LABELS)
    assert engine.network(NAME) is None  # (after NETWORK_SETTLE seconds of looking)


def test_a_privileged_container_runs_and_execs(docker_engine):
    """kind runs its nodes privileged. Where this machine cannot grant every capability, the engine
    scripts/docker-engine.sh starts runs containers through scripts/engine/runc-bounded; either way `docker run
    --privileged` and `docker exec --privileged` work, and may do what a node does (make a network device)."""
    container = docker_engine.containers.create("lab.local/client:test", ["sleep", "60"], privileged=True,
                                                labels={"lab.dev/probe": "privileged"})
    try:
        container.start()
        code, output = container.exec_run(["sh", "-c", "ip link add lab0 type veth peer name lab1 && ip -o link show lab0"], privileged=True)
        assert code == 0 and b"lab0" in output, output
    finally:
        container.remove(force=True)


def test_a_network_whose_endpoint_inspect_does_not_list_is_left_in_use(engine, docker_engine, monkeypatch):
    """`down` removes the shared network once no container uses it. A container another instance is starting or
    removing holds an endpoint that the network's inspect does not list at that moment: Docker refuses the
    removal ("active endpoints"), and the network is left to the last instance down, not `down` failed."""
    engine.ensure_network(NAME, SUBNET, LABELS)
    other = docker_engine.containers.run("lab.local/client:test", ["sleep", "infinity"], name="lab-test-shared-net-user", network=NAME, detach=True,
                                         labels={"lab.dev/instance": "test-b"})
    try:
        real = engine.network

        def unlisted(name):  # the window: inspect shows no container on it
            net = real(name)
            if net is not None:
                monkeypatch.setattr(net, "reload", lambda: net.attrs.update(Containers={}))
            return net

        monkeypatch.setattr(engine, "network", unlisted)
        assert engine.remove_network_if_unused(NAME) is False
        assert real(NAME) is not None
    finally:
        other.remove(force=True)
    monkeypatch.undo()
    assert engine.remove_network_if_unused(NAME) is True
