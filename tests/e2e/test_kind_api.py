"""The kind runtime's Kubernetes side against a real API server.

kind and its nodes cannot run here (no node image, no Cilium images), so `kind` and `docker` stay the contract
tests' fakes and kind's nodes are the boundary in kind_nodes.py. The rest is real: the control plane (etcd,
kube-apiserver, kube-controller-manager, kube-scheduler built from their Go modules) is the "cluster" the fake
kind hands out, the real helm installs the real Cilium chart into it from the pinned archive, the runtime's
server-side applies, generic waits and deletion by label run against it, and Cilium's real CRDs judge the
lab's Cilium objects.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import pytest

from orchestrator.runtimes.docker.control_plane import ControlPlane
from orchestrator.providers.docker import DockerEngine
from orchestrator.providers.kube import KubeApi
from tests.contract.fakes.pod_answers import HAPROXY
from tests.e2e.conftest import CONTROL_PLANE, KUBECTL, kubectl
from tests.e2e.kind_nodes import KindNodeKube, KindNodes, operator_crds
from tests.helpers import LABS, offline_bundle, run_lab

INSTANCE_GROUP = "apitest"  # the tier's side-by-side groups: tests/e2e/conftest.py

FAKES = Path(__file__).resolve().parents[1] / "contract" / "fakes" / "fake_tool.py"
BUNDLE = offline_bundle()
INSTANCE = "apitest"  # the control plane's own instance (the lab's instance is the fake kind cluster)
LAB_SELECTOR = "lab.dev/instance=inject-mtls"


def _helm() -> str:
    found = shutil.which("helm") or str(KUBECTL.parent / "helm")
    if not Path(found).exists():
        pytest.fail("helm not built: run `make images` (it builds helm from its Go module)")
    return found


@contextlib.contextmanager
def kind_on_a_real_api_server(tmp_path, monkeypatch, cluster: str, workers: int, crds: list[dict]):
    """A real control plane; a fake kind whose clusters are it (its node's /etc/kubernetes/pki is the control
    plane's PKI); the real helm; kind's nodes as the boundary."""
    engine = DockerEngine()
    labels = {"lab.dev/instance": INSTANCE, "lab.dev/lab": "apitest", "app.kubernetes.io/managed-by": "lab"}
    engine.ensure_network(f"lab-{INSTANCE}", "172.31.240.0/24", labels)
    images = {"etcd": CONTROL_PLANE["etcd"], "kube-apiserver": CONTROL_PLANE["kubeApiserver"],
              "kube-controller-manager": CONTROL_PLANE["kubeControllerManager"], "kube-scheduler": CONTROL_PLANE["kubeScheduler"]}
    control_plane = ControlPlane(engine, INSTANCE, f"lab-{INSTANCE}", labels, images, tmp_path / "cp")
    try:
        control_plane.up()
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for tool in ("kind", "docker"):
            os.symlink(FAKES, bin_dir / tool)
        os.symlink(_helm(), bin_dir / "helm")
        state = tmp_path / "fake"
        state.mkdir()
        (state / "images").write_text("")
        for key, value in {"LAB_FAKE_DIR": str(state), "LAB_FAKE_KUBECONFIG": str(control_plane.kubeconfig_path),
                           "LAB_FAKE_NODE_PKI": str(control_plane.pki.store.directory),
                           "LAB_CACHE": str(tmp_path / "cache"), "PATH": f"{bin_dir}:{os.environ['PATH']}"}.items():
            monkeypatch.setenv(key, value)
        work = tmp_path / "work"
        work.mkdir()
        monkeypatch.chdir(work)
        import orchestrator.providers.kube as kube_module

        monkeypatch.setattr(kube_module, "KubeApi", KindNodeKube)
        KindNodeKube.calls = []
        with KindNodes(control_plane.kubeconfig_path, cluster, workers=workers, operator_crds=crds) as nodes:
            yield control_plane, nodes, work
        assert nodes.errors == []
    finally:
        for container in engine.containers(labels):
            engine.remove(container, labels)
        for volume in engine.volumes(labels):  # etcd's data: the next test's cluster starts empty
            engine.remove_volume(volume, labels)
        engine.remove_network_if_unused(f"lab-{INSTANCE}")


@pytest.fixture
def cluster(tmp_path, docker_engine, monkeypatch):
    if BUNDLE is None or not (BUNDLE / "cilium-1.19/crds/ciliumnetworkpolicies.yaml").is_file():
        pytest.fail("no offline bundle (LAB_BUNDLE, or ../shared/upstream beside the project): the chart and CRDs come from it")
    crds = operator_crds([BUNDLE / "cilium-1.19/crds" / f for f in ("ciliumnetworkpolicies.yaml", "ciliumclusterwideenvoyconfigs.yaml",
                                                                      "ciliumenvoyconfigs.yaml")])
    with kind_on_a_real_api_server(tmp_path, monkeypatch, "inject-mtls", 1, crds) as world:
        yield world


def test_kind_runtime_on_a_real_api_server(cluster):
    control_plane, nodes, work = cluster
    kubeconfig = str(control_plane.kubeconfig_path)
    result = run_lab("up", "inject-mtls", "--runtime", "kind", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["summary"] == {"passed": 6, "failed": 0, "skipped": 0}

    # The real chart, installed by the real helm, rolled out by the real controllers onto kind's two nodes.
    daemonset = kubectl(kubeconfig, "get", "daemonset", "-n", "kube-system", "cilium")
    assert daemonset["status"]["numberReady"] == 2 and daemonset["status"]["updatedNumberScheduled"] == 2
    relay = kubectl(kubeconfig, "get", "deployment", "-n", "kube-system", "hubble-relay")
    assert relay["status"]["availableReplicas"] == 1
    releases = [s for s in kubectl(kubeconfig, "get", "secrets", "-n", "kube-system", "-l", "owner=helm")["items"]]
    assert [s["metadata"]["labels"]["name"] for s in releases] == ["cilium"]

    # The lab's objects as applied by server-side apply, labelled, the curl pod scheduled onto the worker.
    pod = kubectl(kubeconfig, "get", "pod", "-n", "mtls-inject", "curl", "--show-managed-fields")
    assert pod["spec"]["nodeName"] == "inject-mtls-worker" and pod["metadata"]["labels"]["lab.dev/instance"] == "inject-mtls"
    managers = {m["manager"] for m in pod["metadata"]["managedFields"]}
    assert "lab" in managers
    cilium = kubectl(kubeconfig, "get", "ccec,cnp", "-A", "-l", LAB_SELECTOR)["items"]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in cilium) == [
        ("CiliumClusterwideEnvoyConfig", "mtls-injection-envoy"), ("CiliumNetworkPolicy", "mtls-injection-policy")]

    # hubble ran in the Cilium agent on the curl pod's node, found through the real API.
    hubble = [c for c in KindNodeKube.calls if c[0] == "exec" and c[3][0] == "hubble"]
    agent = kubectl(kubeconfig, "get", "pod", "-n", "kube-system", hubble[0][2])
    assert agent["spec"]["nodeName"] == "inject-mtls-worker" and hubble[0][4] == "cilium-agent"
    # The last stage's two GETs run side by side, in either order; hubble counts their flows after both.
    execs = [c for c in KindNodeKube.calls if c[0] == "exec"]
    curls = [i for i, c in enumerate(execs) if c[3][0] == "curl"]
    assert sorted(execs[i][3][-1] for i in curls[-2:]) == [f"http://{HAPROXY}:8083/", f"http://{HAPROXY}:8443/"]
    assert max(i for i, c in enumerate(execs) if c[3][0] == "hubble") > curls[-1]

    # A second up deletes the lab's objects by label and waits until they are gone, then replays every stage.
    uid = pod["metadata"]["uid"]
    again = run_lab("up", "inject-mtls", "--runtime", "kind")
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "6 passed, 0 failed" in again.stdout
    assert kubectl(kubeconfig, "get", "pod", "-n", "mtls-inject", "curl")["metadata"]["uid"] != uid

    down = run_lab("down", "inject-mtls")
    assert down.exit_code == 0, down.stderr
    assert not (work / ".lab/inject-mtls").exists()


def test_a_cilium_object_the_crd_forbids_is_refused_by_the_real_api_server(cluster, tmp_path, monkeypatch):
    labs = tmp_path / "labs"
    shutil.copytree(LABS / "inject-mtls", labs / "inject-mtls")
    cnp = labs / "inject-mtls/templates/cnp.yaml.j2"
    cnp.write_text(cnp.read_text().replace("  endpointSelector: {}", "  endpointSelector: everything"))
    monkeypatch.setenv("LAB_PATH", str(labs))
    result = run_lab("up", "inject-mtls", "--runtime", "kind")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "apply CiliumNetworkPolicy mtls-inject/mtls-injection-policy: the API server refused it (" in result.stderr
    assert "spec.endpointSelector" in result.stderr  # the server's own message names the field
    assert list((cluster[2] / ".lab/logs/inject-mtls").iterdir())  # logs collected


def test_delete_by_label_removes_only_the_labs_objects(cluster):
    control_plane, nodes, work = cluster
    kubeconfig = str(control_plane.kubeconfig_path)
    assert run_lab("up", "inject-mtls", "--runtime", "kind").exit_code == 0
    api = KubeApi(control_plane.kubeconfig_path)
    api.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep", "namespace": "mtls-inject"}, "data": {"a": "b"}})
    removed = api.delete_labelled("cilium.io/v2", "CiliumNetworkPolicy", LAB_SELECTOR) + api.delete_labelled("v1", "Pod", LAB_SELECTOR)
    assert sorted(removed) == ["CiliumNetworkPolicy mtls-inject/mtls-injection-policy", "Pod mtls-inject/curl"]
    api.wait_deleted([("cilium.io/v2", "CiliumNetworkPolicy"), ("v1", "Pod")], LAB_SELECTOR, 60)
    assert kubectl(kubeconfig, "get", "pods", "-n", "mtls-inject", "-l", LAB_SELECTOR)["items"] == []
    assert kubectl(kubeconfig, "get", "configmap", "-n", "mtls-inject", "keep")["data"] == {"a": "b"}
    # the chart's objects carry no lab label: untouched
    assert kubectl(kubeconfig, "get", "daemonset", "-n", "kube-system", "cilium")["status"]["numberReady"] == 2


def test_k8s_user_certs_on_the_kind_runtime(tmp_path, docker_engine, monkeypatch):
    """The users lab on kind's path: the CSR signed by the real controller-manager, john signed with the CA key
    read from kind's control-plane node (the real cluster CA here), RBAC judged by the real API server."""
    with kind_on_a_real_api_server(tmp_path, monkeypatch, "k8s-user-certs", 0, []) as (control_plane, _nodes, work):
        result = run_lab("up", "k8s-user-certs", "--runtime", "kind", "-o", "json")
        assert result.exit_code == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert report["summary"] == {"passed": 8, "failed": 0, "skipped": 0}
        pki = next(c for c in report["checks"] if c["name"] == "cluster-pki")
        assert "kubeadm certs check-expiration" in pki["output"] and "apiserver" in pki["output"]
        calls = [json.loads(line) for line in (tmp_path / "fake/calls.jsonl").read_text().splitlines()]
        assert ["docker", "exec", "k8s-user-certs-control-plane", "cat", "/etc/kubernetes/pki/ca.key"] in calls
        # john's certificate: signed with that key, so the real API server authenticates him
        john = (work / ".lab/k8s-user-certs/users/john.crt").read_bytes()
        from cryptography import x509

        x509.load_pem_x509_certificate(john).verify_directly_issued_by(x509.load_pem_x509_certificate(control_plane.pki.read("ca.crt")))
        assert run_lab("down", "k8s-user-certs").exit_code == 0
