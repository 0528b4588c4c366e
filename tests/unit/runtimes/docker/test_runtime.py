"""The docker runtime without Docker or an API server: its infrastructure verbs against FakeEngine (which refuses
what Docker and the tool's own guards refuse) and a FakeCluster of its own per test, and the emulated Cilium it
hands the objects it applies to."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from orchestrator.context import LabContext
from orchestrator.errors import PermanentFailure
from orchestrator.providers.docker_cli import ComposeStack
from orchestrator.render.artifacts import render_in_memory
from orchestrator.runtimes.base import Instance
from orchestrator.runtimes.docker.runtime import DockerRuntime
from tests.fakes import FakeCluster, FakeEngine


@pytest.fixture
def world(tmp_path, monkeypatch):
    """inject-mtls as `up` would hand it to the runtime, an engine holding the lab's images, its own cluster."""
    monkeypatch.chdir(tmp_path)
    lab = LabContext(workdir=tmp_path).load("inject-mtls")
    _store, rendered = render_in_memory(lab, tmp_path / "certs")
    state = tmp_path / ".lab/inject-mtls"
    state.mkdir(parents=True)
    (state / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    instance = Instance(lab.name, lab.instance, lab.owner_labels(), lab.network, state, {}, lab, rendered)
    engine, cluster = FakeEngine(images=list(lab.images.values())), FakeCluster()
    cluster.applied += [{"kind": "CustomResourceDefinition", "metadata": {"name": kind}, "spec": {"group": "cilium.io", "names": {"kind": kind}}}
                        for kind in ("CiliumNetworkPolicy", "CiliumClusterwideEnvoyConfig")]  # registered when provisioned
    runtime = DockerRuntime(instance, engine=engine, kube_factory=cluster.client)
    compose_calls = []
    monkeypatch.setattr(ComposeStack, "down", lambda self, owner: compose_calls.append(("down", self.project, dict(owner))))
    return runtime, engine, cluster, rendered, compose_calls


def _running_pod(runtime, engine, cluster, rendered) -> dict:
    """The client pod as the node runs it: its container on the engine, its status in the API."""
    pod = copy.deepcopy(next(d for d in rendered.docs("client") if d["kind"] == "Pod"))
    pod["status"] = {"phase": "Running", "podIP": "172.18.0.9"}
    cluster.running_pods = [pod]
    engine.run(runtime.pod_container(pod["metadata"]["name"]), pod["spec"]["containers"][0]["image"], [], labels=runtime.labels)
    return pod


def _record(runtime) -> dict:
    """What the emulated Cilium recorded, as the node agent's loop reads it."""
    return json.loads((runtime.instance.state_dir / "cilium.json").read_text())


def test_an_apply_of_cilium_objects_runs_the_ccec_in_envoy_and_redirects_the_pod(world):
    runtime, engine, cluster, rendered, _ = world
    pod = _running_pod(runtime, engine, cluster, rendered)
    runtime.apply("client", rendered.docs("client"))
    runtime.apply("cilium", rendered.docs("cilium"))
    pod_container = runtime.pod_container(pod["metadata"]["name"])
    envoy = engine.container("lab-inject-mtls-envoy")
    bootstrap = yaml.safe_load(envoy.files["/etc/envoy/envoy.yaml"])
    assert [listener["name"] for listener in bootstrap["static_resources"]["listeners"]] == ["mtls-injection-listener", "mtls-injection-listener-impostor"]
    assert envoy.options["network_mode"] == f"container:{pod_container}" and envoy.labels.items() >= runtime.labels.items()
    key_files = [path for path in envoy.files if path.endswith("tls.key")]
    assert key_files, "the client certificate's key is served to Envoy as SDS would"
    datapath = engine.container("lab-inject-mtls-datapath")
    assert datapath.options["cap_add"] == ["NET_ADMIN"] and datapath.options["network_mode"] == f"container:{pod_container}"
    restore = [c for c in engine.calls if c[:2] == ("exec", "lab-inject-mtls-datapath")][-1][2]
    haproxy_ip = runtime.instance.lab.values["haproxy"]["ip"]
    assert f"-d {haproxy_ip}/32 --dport 8083" in restore[4] and "REDIRECT --to-ports" in restore[4]
    assert _record(runtime)["redirected_pod"] == pod_container
    applied = [(c[1], c[3]) for c in cluster.calls if c[0] == "apply"]
    assert ("CiliumNetworkPolicy", "mtls-injection-policy") in applied and ("CiliumClusterwideEnvoyConfig", "mtls-injection-envoy") in applied


def test_reset_removes_what_the_network_made_and_refuses_a_container_that_is_not_the_labs(world):
    runtime, engine, cluster, rendered, _ = world
    _running_pod(runtime, engine, cluster, rendered)
    runtime.apply("cilium", rendered.docs("cilium"))
    runtime._fresh = True  # a new cluster: nothing of an earlier run in the API to delete
    assert sorted(runtime.reset()) == ["lab-inject-mtls-datapath", "lab-inject-mtls-envoy"]
    assert "redirected_pod" not in _record(runtime)
    engine.run("lab-inject-mtls-envoy", "envoyproxy/envoy:v1.34.1", [], labels={})  # somebody else's, by the lab's name
    with pytest.raises(PermanentFailure, match="lab-inject-mtls-envoy exists but was not made by this lab instance"):
        runtime.reset()
    assert engine.container("lab-inject-mtls-envoy") is not None


def test_teardown_removes_only_what_carries_the_instances_labels(world):
    runtime, engine, cluster, rendered, compose_calls = world
    labels = runtime.labels
    engine.ensure_network("kind", "172.18.0.0/16", labels)
    engine.run("lab-inject-mtls-kube-apiserver", runtime.instance.lab.images["kubeApiserver"], [], labels=labels)
    engine.run("lab-inject-mtls-curl", runtime.instance.lab.images["client"], [], labels=labels)
    engine.create_volume("lab-inject-mtls-1234-certs", labels)
    engine.run("lab-other-curl", runtime.instance.lab.images["client"], [], labels={**labels, "lab.dev/instance": "other"})
    engine.run("users-own-db", runtime.instance.lab.images["client"], [], labels={})
    engine.create_volume("users-own-volume", {})
    removed = runtime.teardown()
    assert sorted(engine.containers_by_name) == ["lab-other-curl", "users-own-db"] and list(engine.volumes_by_name) == ["users-own-volume"]
    assert "container lab-inject-mtls-kube-apiserver" in removed and "volume lab-inject-mtls-1234-certs" in removed
    assert compose_calls == [("down", "lab-inject-mtls", labels)]
    assert "network kind" in removed  # nothing of any lab uses it any more


def test_the_kind_network_is_not_removed_while_another_instance_joins_it(world, monkeypatch, tmp_path):
    """Another instance found the shared network and is starting its first containers (it holds the networks guard
    shared): this instance's teardown waits, then sees the network in use and leaves it."""
    import threading
    import time

    from orchestrator.providers.docker import networks_guard

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    runtime, engine, *_ = world
    engine.ensure_network("kind", "172.18.0.0/16", runtime.labels)
    joining = threading.Event()

    def other_instance_up():
        with networks_guard(exclusive=False):
            joining.set()
            time.sleep(0.3)
            engine.run("lab-other-etcd", runtime.instance.lab.images["etcd"], [], labels={**runtime.labels, "lab.dev/instance": "other"},
                       network="kind")

    other = threading.Thread(target=other_instance_up)
    other.start()
    joining.wait(5)
    removed = runtime.teardown()
    other.join()
    assert "network kind" not in removed and engine.network("kind") is not None


def test_exec_runs_in_the_pods_container_once_every_part_runs(world):
    runtime, engine, cluster, rendered, _ = world
    pod = _running_pod(runtime, engine, cluster, rendered)
    for service in ("haproxy", "echo"):
        engine.run(f"lab-inject-mtls-{service}-1", runtime.instance.lab.images[service], [], labels=runtime.labels)
    result = runtime.exec(None, ["curl", "-s", "http://example/"])
    assert result.returncode == 0 and ("exec", runtime.pod_container(pod["metadata"]["name"]), ("curl", "-s", "http://example/")) in engine.calls
    engine.container("lab-inject-mtls-haproxy-1").status = "exited"
    with pytest.raises(PermanentFailure, match="container lab-inject-mtls-haproxy-1 is exited"):
        runtime.exec(None, ["true"])
    engine.remove(engine.container("lab-inject-mtls-haproxy-1"), runtime.labels)
    with pytest.raises(PermanentFailure, match=r"lab-inject-mtls-haproxy-1 \(compose service haproxy\) does not exist"):
        runtime.exec(None, ["true"])


def test_validate_names_the_control_plane_images_a_lab_lacks(world):
    runtime, *_ = world
    lab = runtime.instance.lab
    assert runtime.validate([]) == []
    lab.image_roles = {k: v for k, v in lab.image_roles.items() if k != "etcd"}
    assert runtime.validate([]) == [f"{lab.spec_file}: imageRoles.etcd: the docker runtime runs etcd from this image; name its image key"]


def test_the_engine_fake_refuses_what_docker_and_the_tool_refuse():
    engine = FakeEngine(images=["present:1"])
    owner = {"app.kubernetes.io/managed-by": "lab", "lab.dev/lab": "x", "lab.dev/instance": "x"}
    engine.run("a", "present:1", [], labels=owner)
    with pytest.raises(Exception, match="already in use"):
        engine.run("a", "present:1", [], labels=owner)
    with pytest.raises(Exception, match="not present"):
        engine.run("b", "absent:1", [], labels=owner)
    with pytest.raises(Exception, match="ownership labels"):
        engine.containers({"lab.dev/instance": "x"})
    with pytest.raises(PermanentFailure):
        engine.remove(engine.container("a"), {**owner, "lab.dev/instance": "y"})


def test_health_names_each_part_that_is_down_in_the_labs_words(world, monkeypatch):
    """Every part that is not running, one line each with the command that heals it: a stopped control-plane
    component by its name, one that is gone, a compose service that is gone, the node agent; a part that runs is
    not named."""
    runtime, engine, _cluster, _rendered, _ = world
    monkeypatch.setattr(type(runtime.node_agent), "running", lambda self: False)
    runtime.instance.data["control_plane"] = True
    labels = runtime.labels
    engine.run("lab-inject-mtls-kube-apiserver", runtime.instance.lab.images["kubeApiserver"], [],
               labels={**labels, "lab.dev/role": "control-plane", "lab.dev/component": "kube-apiserver"})
    engine.run("lab-inject-mtls-etcd", runtime.instance.lab.images["etcd"], [],
               labels={**labels, "lab.dev/role": "control-plane", "lab.dev/component": "etcd"})
    engine.container("lab-inject-mtls-kube-apiserver").status = "exited"
    engine.run("lab-inject-mtls-echo-1", runtime.instance.lab.images["echo"], [], labels={**labels, "com.docker.compose.service": "echo"})
    lines = runtime.health()
    assert lines == [
        "container lab-inject-mtls-haproxy-1 (compose service haproxy) does not exist; `lab up inject-mtls` makes it again",
        "the controller-manager: container lab-inject-mtls-kube-controller-manager does not exist; `lab up inject-mtls` makes it again",
        "the scheduler: container lab-inject-mtls-kube-scheduler does not exist; `lab up inject-mtls` makes it again",
        "the API server: container lab-inject-mtls-kube-apiserver is exited (exit code 1); `lab up inject-mtls` starts it again",
        "the node agent (the instance's kubelet, a process of this machine) is not running; `lab up inject-mtls` starts it again"]
    monkeypatch.setattr(type(runtime.node_agent), "running", lambda self: True)
    engine.container("lab-inject-mtls-kube-apiserver").status = "running"
    engine.run("lab-inject-mtls-haproxy-1", runtime.instance.lab.images["haproxy"], [], labels={**labels, "com.docker.compose.service": "haproxy"})
    for component, image in (("kube-controller-manager", "kubeControllerManager"), ("kube-scheduler", "kubeScheduler")):
        engine.run(f"lab-inject-mtls-{component}", runtime.instance.lab.images[image], [],
                   labels={**labels, "lab.dev/role": "control-plane", "lab.dev/component": component})
    assert runtime.health() == []


def test_health_waits_for_a_rebuild_of_the_network_under_way(world, monkeypatch):
    """The emulated Cilium's loop replaces the datapath when the node recreates a pod (remove, then run again): health
    is judged once it is done, so a part being replaced is not reported as down (a flaky `verify` in e2e)."""
    import threading
    import time

    runtime, engine, *_ = world
    monkeypatch.setattr(type(runtime.node_agent), "running", lambda self: True)
    labels = runtime.labels
    for service in ("haproxy", "echo"):
        engine.run(f"lab-inject-mtls-{service}-1", runtime.instance.lab.images[service], [], labels={**labels, "com.docker.compose.service": service})
    engine.run("lab-inject-mtls-datapath", runtime.instance.lab.images["client"], [], labels={**labels, "lab.dev/role": "datapath"})
    rebuilding = threading.Event()

    def rebuild():  # as the agent's loop does, in its own hold
        with runtime.network.holding():
            engine.container("lab-inject-mtls-datapath").status = "removing"
            rebuilding.set()
            time.sleep(0.3)
            engine.container("lab-inject-mtls-datapath").status = "running"

    loop = threading.Thread(target=rebuild)
    loop.start()
    rebuilding.wait(5)
    judged = runtime.health()
    loop.join()
    assert judged == []


def test_a_slow_api_read_of_the_cilium_loop_holds_up_no_command(world, monkeypatch):
    """The loop reads the API server outside its hold: with etcd stopped a read hangs, and `verify` (which waits for
    a rebuild under way before judging the parts) must still name the broken part at once."""
    import threading

    runtime, *_ = world
    reading, release = threading.Event(), threading.Event()
    real_world = type(runtime.network)._world

    def slow_world(self):
        reading.set()
        release.wait(10)
        return real_world(self)

    monkeypatch.setattr(type(runtime.network), "_world", slow_world)
    loop = threading.Thread(target=runtime.network.follow)
    loop.start()
    assert reading.wait(5)
    entered = threading.Event()

    def command():  # as `verify` does before judging the parts
        with runtime.network.holding():
            entered.set()

    command = threading.Thread(target=command)
    command.start()
    held_up = not entered.wait(2)
    release.set()
    loop.join(10)
    command.join(10)
    assert not held_up


def test_the_sdk_client_is_made_beside_the_preflight_and_used_once_made(world, monkeypatch):
    """requirements() starts making the Docker SDK's client while the CLI probes run; `engine` then hands over
    that one client (not a second), or raises the error making it raised, as if made there."""
    from concurrent.futures import Future

    import orchestrator.providers.docker as provider
    import orchestrator.runtimes.docker.runtime as module
    from orchestrator.errors import MissingPrerequisite

    runtime = world[0]
    made = []

    class Engine:
        def __init__(self):
            made.append(self)

    monkeypatch.setattr(provider, "DockerEngine", Engine)
    monkeypatch.setattr(module, "DockerEngine", lambda: pytest.fail("a second client was made"))
    monkeypatch.setattr(module, "docker_findings", lambda cli, stack: [module.Finding("docker daemon", False, "not reachable")])
    runtime._engine = None
    runtime.requirements()
    assert isinstance(runtime._engine_ahead, Future)
    engine = runtime.engine
    assert made == [engine] and runtime.engine is engine and runtime._engine_ahead is None

    def refused():
        raise MissingPrerequisite("cannot reach the Docker daemon")

    monkeypatch.setattr(provider, "DockerEngine", refused)
    runtime._engine = None
    runtime.requirements()
    with pytest.raises(MissingPrerequisite, match="cannot reach"):
        runtime.engine
