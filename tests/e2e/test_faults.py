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


def _kill_node_agent(labdir) -> None:
    import json
    import signal

    pid = json.loads((labdir / ".lab" / "inject-mtls" / "state.json").read_text())["runtime_state"]["node_pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and "zombie" not in open(f"/proc/{pid}/status").read().lower():
        assert time.monotonic() < deadline, "the node agent did not die"
        time.sleep(0.1)


@pytest.mark.parametrize("part, expected", [
    ("lab-inject-mtls-kube-apiserver", "the API server: container lab-inject-mtls-kube-apiserver is exited"),
    ("lab-inject-mtls-etcd", "etcd: container lab-inject-mtls-etcd is exited"),
    ("lab-inject-mtls-kube-controller-manager", "the controller-manager: container lab-inject-mtls-kube-controller-manager is exited"),
    ("lab-inject-mtls-kube-scheduler", "the scheduler: container lab-inject-mtls-kube-scheduler is exited"),
    ("node agent", "the node agent (the instance's kubelet, a process of this machine) is not running"),
    ("lab-inject-mtls-haproxy-1", "compose service haproxy: container lab-inject-mtls-haproxy-1 is exited"),
    ("lab-inject-mtls-envoy", "Envoy (the emulated Cilium's proxy): container lab-inject-mtls-envoy is exited"),
    ("lab-inject-mtls-datapath", "the emulated Cilium's datapath (iptables): container lab-inject-mtls-datapath is exited"),
])
def test_a_stopped_part_is_named_and_up_brings_it_back(up, docker_engine, part, expected):
    """A part of the cluster stopped (as a reboot or `docker stop` leaves it): `verify` names it, and the command
    to heal it, before any check; `lab up` starts it again as it was (etcd's data, the API server's port and so
    the kubeconfig kept) and converges, and the checks pass. etcd stopped takes the control plane's network
    namespace with it: the components that joined it are restarted into the new one."""
    if part == "node agent":
        _kill_node_agent(up)
    else:
        docker_engine.containers.get(part).stop(timeout=2)
    result, seconds = timed_verify(up)
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected in result.stderr and "`lab up inject-mtls` starts it again" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "MaxRetryError" not in result.stderr
    assert seconds < QUICK, f"verify took {seconds:.1f}s"
    kubeconfig = (up / ".lab" / "inject-mtls" / "kubeconfig").read_text()
    healed = lab(up, *up_args(), timeout=600)
    assert healed.returncode == 0, healed.stdout[-3000:] + healed.stderr[-3000:]
    assert (up / ".lab" / "inject-mtls" / "kubeconfig").read_text() == kubeconfig  # the same port, the same credentials
    again, _ = timed_verify(up)
    assert again.returncode == 0, again.stdout + again.stderr
    assert lab(up, "down", "inject-mtls").returncode == 0
    assert labelled(docker_engine) == NOTHING


def test_etcd_removed_by_hand_is_made_again_with_its_cluster_and_the_rest_rejoin_it(up, docker_engine):
    """etcd's container holds the control plane's network namespace; removed by hand (`docker rm -f`), `lab up`
    makes it again on its volume, on the API server's port, and the API server, controller-manager and
    scheduler, which still held the old namespace, again in the new one: the same cluster (an object keeps its uid)."""
    from pathlib import Path

    from orchestrator.providers.kube import KubeApi

    kubeconfig = up / ".lab" / "inject-mtls" / "kubeconfig"
    uid = KubeApi(kubeconfig).get("v1", "Namespace", "kube-system")["metadata"]["uid"]
    owner = docker_engine.containers.get("lab-inject-mtls-etcd")
    owner.remove(force=True)
    result, seconds = timed_verify(up)
    assert result.returncode == 1 and seconds < QUICK, result.stdout + result.stderr
    assert "etcd: container lab-inject-mtls-etcd does not exist; `lab up inject-mtls` makes it again" in result.stderr, result.stderr
    healed = lab(up, *up_args(), timeout=600)
    assert healed.returncode == 0, healed.stdout[-3000:] + healed.stderr[-3000:]
    new_owner = docker_engine.containers.get("lab-inject-mtls-etcd")
    assert new_owner.id != owner.id
    for member in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        joined = docker_engine.containers.get(f"lab-inject-mtls-{member}")
        assert joined.attrs["HostConfig"]["NetworkMode"] == f"container:{new_owner.id}" and joined.status == "running", member
    assert KubeApi(Path(kubeconfig)).get("v1", "Namespace", "kube-system")["metadata"]["uid"] == uid
    again, _ = timed_verify(up)
    assert again.returncode == 0, again.stdout + again.stderr
    assert lab(up, "down", "inject-mtls").returncode == 0
    assert labelled(docker_engine) == NOTHING


@pytest.mark.engine_wide
def test_the_lab_survives_its_engine_restarting(up, docker_engine):
    """The Docker engine restarted under a running lab (a reboot, a Docker update): every part stopped, `verify`
    names them, and `lab up` brings the lab back as it was (etcd's data, the API server's port) and converges."""
    import subprocess
    from pathlib import Path

    from tests.e2e.conftest import REPO

    engine_dir = Path(os.environ.get("LAB_ENGINE_DIR", REPO / ".lab" / "engine"))
    if not (engine_dir / "dockerd.pid").is_file():
        pytest.skip("the Docker engine was not started by scripts/docker-engine.sh (make test starts one when none answers): "
                    "this test restarts only an engine of its own")
    for command in ("stop", "start"):
        done = subprocess.run(["bash", str(REPO / "scripts" / "docker-engine.sh"), command], cwd=REPO, capture_output=True, text=True,
                              timeout=180, env={**os.environ, "LAB_ENGINE_DIR": str(engine_dir)})
        assert done.returncode == 0, done.stdout + done.stderr
    assert docker_engine.images.list(name="lab.local/etcd:test"), "the engine came back without its images (another data root?)"
    result, seconds = timed_verify(up)
    assert result.returncode == 1 and "the API server: container lab-inject-mtls-kube-apiserver is exited" in result.stderr, result.stderr
    assert seconds < QUICK
    healed = lab(up, *up_args(), timeout=600)
    assert healed.returncode == 0, healed.stdout[-3000:] + healed.stderr[-3000:]
    again, _ = timed_verify(up)
    assert again.returncode == 0, again.stdout + again.stderr
    assert lab(up, "down", "inject-mtls").returncode == 0
    assert labelled(docker_engine) == NOTHING
