"""The docker runtime's real control plane: a Deployment and a Service run as Kubernetes would run them, and
the API server judges Cilium objects against the real CRDs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.errors import RuntimeFailure
from orchestrator.providers.kube import KubeApi, object_changes
from tests.e2e.conftest import KUBECTL, REPO, kubectl, labelled, lab
from tests.helpers import FIXTURE_LABS, LABS

NOTHING = {"containers": [], "networks": [], "volumes": []}


@pytest.mark.xdist_group("deploy-svc")  # its own instance: beside inject-mtls's group, not in it (tests/e2e/conftest.py)
def test_deployment_and_service_reached_by_name(tmp_path, docker_engine):
    (tmp_path / "images.yaml").write_text((REPO / "images.local.yaml").read_text() + "  web: lab.local/echo:test\n")
    env = {**os.environ, "LAB_PATH": str(FIXTURE_LABS)}
    try:
        result = lab(tmp_path, "up", "deploy-svc", "--images", "images.yaml", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 passed, 0 failed" in result.stdout
        kubeconfig = str(tmp_path / ".lab/deploy-svc/kubeconfig")
        pods = kubectl(kubeconfig, "get", "pods", "-n", "deploy", "-l", "app=web")["items"]
        assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)
        assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in pods)  # made by the real controller-manager
        slices = kubectl(kubeconfig, "get", "endpointslices", "-n", "deploy", "-l", "kubernetes.io/service-name=web")["items"]
        addresses = sorted(a for s in slices for e in s["endpoints"] for a in e["addresses"])
        assert addresses == sorted(p["status"]["podIP"] for p in pods)  # the real EndpointSlice controller saw them Ready
        node_relists_fast_only_until_settled(tmp_path, kubeconfig)
        node_guards(kubeconfig, docker_engine)
        node_hears_of_pods_by_watch(tmp_path, kubeconfig)
        waits_hear_of_changes(kubeconfig)
        nothing_to_delete_of_an_unknown_kind(kubeconfig)
    finally:
        down = lab(tmp_path, "down", "deploy-svc", env=env)
    assert down.returncode == 0, down.stderr
    assert labelled(docker_engine, "deploy-svc") == NOTHING


def test_a_cilium_object_the_crd_forbids_is_refused_by_the_api_server(tmp_path, docker_engine):
    labs = tmp_path / "labs"
    shutil.copytree(LABS / "inject-mtls", labs / "inject-mtls")
    cnp = labs / "inject-mtls/templates/cnp.yaml.j2"
    cnp.write_text(cnp.read_text().replace("  endpointSelector: {}", "  endpointSelector: everything"))
    (tmp_path / "images.yaml").write_text((REPO / "images.local.yaml").read_text())
    env = {**os.environ, "LAB_PATH": str(labs)}
    result = lab(tmp_path, "up", "inject-mtls", "--runtime", "docker", "--images", "images.yaml", "--down-on-failure", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "apply cilium-objects: apply CiliumNetworkPolicy mtls-inject/mtls-injection-policy: the API server refused it (" in result.stderr
    assert "spec.endpointSelector" in result.stderr, result.stderr  # the server's own message names the field
    assert list((tmp_path / ".lab/logs/inject-mtls").iterdir())  # logs collected
    assert labelled(docker_engine) == NOTHING  # torn down after the failure (--down-on-failure)
    assert lab(tmp_path, "down", "inject-mtls", env=env).returncode == 0


def _apply(kubeconfig: str, *docs: dict) -> None:
    text = "\n---\n".join(json.dumps(d) for d in docs)
    result = subprocess.run([str(KUBECTL), "--kubeconfig", kubeconfig, "apply", "-f", "-"], input=text, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _until(what: str, probe, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _pod(name: str, container: dict, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "deploy"},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": name, "image": "lab.local/client:test", **container}], **spec}}


def _node_agents(instance: str) -> dict[int, list[str]]:
    agents = {}
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().decode().split("\0")[:-1]
        except (OSError, ValueError):
            continue
        if "orchestrator.runtimes.docker.node" in argv and "--instance" in argv[:-1] and argv[argv.index("--instance") + 1] == instance:
            agents[int(entry.name)] = argv
    return agents


def _restart_node_agent(log_file: Path, *args: str, base: list[str] | None = None) -> list[str]:
    """The instance's node agent stopped and started again with `args` added to its command line (or to
    `base`); its former command line."""
    (pid, argv), = _node_agents("deploy-svc").items()
    os.kill(pid, signal.SIGTERM)
    _until("the node agent to stop", lambda: not _node_agents("deploy-svc"), timeout=10)
    with log_file.open("ab") as log:
        subprocess.Popen([*(base or argv), *args], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    _until("the node to register again", lambda: "registered" in log_file.read_text(), timeout=30)
    return argv


def _pod_lists(kubeconfig: str) -> int:
    """How many LISTs of pods the API server has served (its own metric): the node's relists, when nothing
    else lists pods meanwhile."""
    metrics = subprocess.run([str(KUBECTL), "--kubeconfig", kubeconfig, "get", "--raw", "/metrics"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in metrics.splitlines()
               if line.startswith("apiserver_request_total{") and 'resource="pods"' in line and 'verb="LIST"' in line)


def node_relists_fast_only_until_settled(tmp_path: Path, kubeconfig: str) -> None:
    """Once every pod is ready the node relists at its settled pace (the kubelet's second), and at its fast one
    while a pod is not: restarted with a fast pace of 0.05 s and a settled one of ten minutes, it hardly lists
    while the lab's pods are ready, and lists many times a second while a pod never gets ready."""
    argv = _restart_node_agent(tmp_path / "paced-node.log", "--interval", "0.05", "--settled-interval", "600")
    time.sleep(1)  # its first passes are done
    before = _pod_lists(kubeconfig)
    time.sleep(2)
    assert _pod_lists(kubeconfig) - before <= 1
    _apply(kubeconfig, _pod("unready", {"command": ["sleep", "infinity"], "readinessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1}}))
    time.sleep(2)  # the watch woke it: the pod is started, then never ready
    before = _pod_lists(kubeconfig)
    time.sleep(2)
    assert _pod_lists(kubeconfig) - before >= 8
    subprocess.run([str(KUBECTL), "--kubeconfig", kubeconfig, "delete", "pod", "-n", "deploy", "unready", "--wait=false"], check=True,
                   capture_output=True, timeout=30)
    _restart_node_agent(tmp_path / "node-again.log", base=argv)  # as `up` started it


def node_hears_of_pods_by_watch(tmp_path: Path, kubeconfig: str) -> None:
    """The node hears of a pod bound to it from its watch, not at its next relist: restarted to relist once in
    ten minutes (settled or not), it still runs a new pod within seconds (and `lab down` still stops it)."""
    _restart_node_agent(tmp_path / "slow-node.log", "--interval", "600", "--settled-interval", "600")
    time.sleep(1)  # its first pass is done: only the watch can wake it now
    _apply(kubeconfig, _pod("late", {"command": ["sleep", "infinity"]}))
    _until("the late pod to run", lambda: kubectl(kubeconfig, "get", "pod", "-n", "deploy", "late")["status"].get("phase") == "Running",
           timeout=20)


def waits_hear_of_changes(kubeconfig: str) -> None:
    """A wait hears that its object changed from a watch on that object alone (as `kubectl wait` does)."""
    api = KubeApi(Path(kubeconfig))

    def config_map(name: str) -> dict:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "deploy"}, "data": {"a": "b"}}

    with object_changes(api, "v1", "ConfigMap", "heard", "deploy") as changed:
        api.apply(config_map("other"))
        assert not changed.wait(1)  # another object of the kind is not news
        api.apply(config_map("heard"))
        assert changed.wait(10)
        changed.clear()
        api.patch("v1", "ConfigMap", "heard", "deploy", {"data": {"a": "c"}}, "application/merge-patch+json")
        assert changed.wait(10)


def nothing_to_delete_of_an_unknown_kind(kubeconfig: str) -> None:
    """A fresh cluster has no objects of a kind whose CRD is not applied yet: deleting the lab's finds none (a
    real kind cluster's first `reset` met this), where asking for one by name still says the CRD is missing."""
    api = KubeApi(Path(kubeconfig))
    assert api.delete_labelled("metallb.io/v1beta1", "L2Advertisement", "lab.dev/instance=deploy-svc") == []
    with pytest.raises(RuntimeFailure, match="are its CRDs installed"):
        api.delete("metallb.io/v1beta1", "L2Advertisement", "l2", "deploy")


def node_guards(kubeconfig: str, engine) -> None:
    """What the node honours of a pod spec, each shown by breaking it: a Secret volume follows the Secret and
    cannot be written, a read-only root filesystem and dropped capabilities hold, runAsNonRoot is refused for
    an image that runs as root, a failing liveness probe restarts the container."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": "deploy"}, "stringData": {"key": "one"}}
    reader = _pod("reader", {"command": ["sleep", "infinity"], "volumeMounts": [{"name": "s", "mountPath": "/s", "readOnly": True}],
                             "securityContext": {"readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                                                 "allowPrivilegeEscalation": False, "runAsUser": 65534}},
                  volumes=[{"name": "s", "secret": {"secretName": "token", "defaultMode": 0o440}}], securityContext={"fsGroup": 2000})
    nonroot = _pod("nonroot", {"command": ["sleep", "infinity"], "securityContext": {"runAsNonRoot": True}})
    unlive = _pod("unlive", {"command": ["sleep", "infinity"], "livenessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1,
                                                                                  "failureThreshold": 2}})
    _apply(kubeconfig, secret, reader, nonroot, unlive)
    container = "lab-deploy-svc-reader"
    _until("the reader pod to run", lambda: kubectl(kubeconfig, "get", "pod", "-n", "deploy", "reader")["status"].get("phase") == "Running")

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "exec", container, *argv], capture_output=True, text=True, timeout=30)

    assert run("cat", "/s/key").stdout == "one"
    listing = run("ls", "-la", "/s").stdout
    assert "..data -> .." in listing and "key -> ..data/key" in listing, listing
    mode, _links, owner, group = run("ls", "-lnL", "/s/key").stdout.split()[:4]
    assert (mode, owner, group) == ("-r--r-----", "0", "2000")  # defaultMode, and fsGroup (which the process joins)
    assert run("sh", "-c", "echo two > /s/key").returncode != 0  # secret volumes are read-only
    assert run("touch", "/made-here").returncode != 0  # readOnlyRootFilesystem
    assert "CapEff:\t0000000000000000" in run("cat", "/proc/self/status").stdout  # capabilities dropped
    subprocess.run([str(KUBECTL), "--kubeconfig", kubeconfig, "-n", "deploy", "patch", "secret", "token", "-p", '{"stringData": {"key": "two"}}'],
                   check=True, capture_output=True, timeout=60)
    _until("the Secret's update in the volume", lambda: run("cat", "/s/key").stdout == "two", timeout=15)

    refused = _until("runAsNonRoot to be refused", lambda: (kubectl(kubeconfig, "get", "pod", "-n", "deploy", "nonroot")["status"]
                                                            .get("containerStatuses") or [{}])[0].get("state", {}).get("waiting"))
    assert refused == {"reason": "CreateContainerConfigError", "message": "container has runAsNonRoot and image will run as root"}
    assert engine.containers.list(all=True, filters={"name": "lab-deploy-svc-nonroot"}) == []

    # A Secret volume whose Secret is not there yet: no container runs (none without its files) until it is. Mounted
    # where the image has a file (/etc/ssl/openssl.cnf): the volume holds the Secret's keys alone, as a kubelet's does.
    _apply(kubeconfig, _pod("patient", {"command": ["sleep", "infinity"], "volumeMounts": [{"name": "s", "mountPath": "/etc/ssl"}]},
                            volumes=[{"name": "s", "secret": {"secretName": "later"}}]))
    time.sleep(2)
    # One list call (no inspect per container): each pass makes the container and removes it again, files missing.
    assert [c["State"] for c in engine.api.containers(all=True, filters={"name": "lab-deploy-svc-patient$"})] in ([], ["created"])
    _apply(kubeconfig, {**secret, "metadata": {"name": "later", "namespace": "deploy"}, "stringData": {"key": "at last"}})
    _until("the patient pod to run", lambda: kubectl(kubeconfig, "get", "pod", "-n", "deploy", "patient")["status"].get("phase") == "Running")
    assert subprocess.run(["docker", "exec", "lab-deploy-svc-patient", "cat", "/etc/ssl/key"], capture_output=True, text=True).stdout == "at last"
    assert subprocess.run(["docker", "exec", "lab-deploy-svc-patient", "ls", "/etc/ssl"], capture_output=True, text=True).stdout == "key\n"

    restarts = _until("the liveness probe to restart the container", lambda: (kubectl(kubeconfig, "get", "pod", "-n", "deploy", "unlive")["status"]
                                                                            .get("containerStatuses") or [{}])[0].get("restartCount"))
    assert restarts >= 1

    def one_address_its_containers():  # a restart is a new container with a new address: the old one is not kept
        status = kubectl(kubeconfig, "get", "pod", "-n", "deploy", "unlive")["status"]
        current = {n["IPAddress"] for c in engine.containers.list(filters={"name": "lab-deploy-svc-unlive$"})
                   for n in c.attrs["NetworkSettings"]["Networks"].values()}
        return [p["ip"] for p in status.get("podIPs") or []] == [status.get("podIP")] and status.get("podIP") in current
    _until("the pod's one address to be its current container's", one_address_its_containers)
