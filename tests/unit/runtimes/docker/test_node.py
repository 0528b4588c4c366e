"""Wait predicates and the docker runtime node's guard, on objects as the API server returns them."""

import pytest

from orchestrator.runtimes.docker.node import Unsupported, unsupported_fields
from orchestrator.kube.waits import default_waits, rollout_ready


def deployment(generation=2, observed=2, replicas=2, updated=2, available=2, total=2):
    return {"kind": "Deployment", "metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "availableReplicas": available, "replicas": total}}


@pytest.mark.parametrize("obj, ready", [
    (deployment(), True),
    (deployment(observed=1), False),  # after an upgrade, the old generation's ready pods do not count
    (deployment(updated=1), False),
    (deployment(available=1), False),
    (deployment(total=3), False),  # an old pod still around
    ({"kind": "DaemonSet", "metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 2,
                                                                      "updatedNumberScheduled": 2, "numberAvailable": 2}}, True),
    ({"kind": "DaemonSet", "metadata": {"generation": 3}, "status": {"observedGeneration": 2, "desiredNumberScheduled": 2,
                                                                      "updatedNumberScheduled": 2, "numberAvailable": 2}}, False),
    ({"kind": "DaemonSet", "metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 2,
                                                                      "updatedNumberScheduled": 1, "numberAvailable": 2}}, False),
])
def test_rollout_is_observed_updated_and_available(obj, ready):
    assert rollout_ready(obj, {})[0] is ready


def test_condition_wait_reads_any_condition():
    kind = default_waits().get("condition")
    params = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "name": "ringu", "condition": "Approved"}
    assert kind.ready({"status": {"conditions": [{"type": "Approved", "status": "True"}]}}, params)[0]
    assert not kind.ready({"status": {"conditions": [{"type": "Denied", "status": "True"}]}}, params)[0]
    assert kind.kubectl(params, 60) == ["kubectl", "wait", "--for=condition=Approved", "certificatesigningrequest/ringu", "--timeout=60s"]


def pod(**spec):
    return {"metadata": {"name": "p", "namespace": "n"}, "spec": {"containers": [{"name": "c", "image": "i"}], **spec}}


@pytest.mark.parametrize("change, field", [
    (lambda p: p["spec"].update(hostNetwork=True), "spec.hostNetwork"),
    (lambda p: p["spec"]["containers"].append({"name": "d", "image": "i"}), "spec.containers"),
    (lambda p: p["spec"].update(initContainers=[{"name": "init", "image": "i"}]), "spec.initContainers"),
    (lambda p: p["spec"].update(volumes=[{"name": "v", "hostPath": {"path": "/"}}]), "spec.volumes[v]"),
    (lambda p: p["spec"]["containers"][0].update(lifecycle={"preStop": {}}), "spec.containers[0].lifecycle"),
    (lambda p: p["spec"]["containers"][0].update(securityContext={"seLinuxOptions": {}}), "spec.containers[0].securityContext.seLinuxOptions"),
    (lambda p: p["spec"]["containers"][0].update(volumeMounts=[{"name": "v", "mountPath": "/x", "subPath": "a"}]), "spec.containers[0].volumeMounts[0]"),
])
def test_the_node_names_what_it_cannot_run(change, field):
    spec = pod()
    change(spec)
    with pytest.raises(Unsupported) as err:
        unsupported_fields(spec)
    assert err.value.field == field


def test_the_node_accepts_what_the_api_server_defaults():
    unsupported_fields(pod(restartPolicy="Always", dnsPolicy="ClusterFirst", schedulerName="default-scheduler", securityContext={},
                           tolerations=[{"key": "node.kubernetes.io/not-ready"}], enableServiceLinks=True, preemptionPolicy="PreemptLowerPriority",
                           priority=0, serviceAccountName="default", terminationGracePeriodSeconds=30))


def test_the_node_connects_with_one_client_per_kubeconfig(tmp_path, monkeypatch):
    """While the API server boots the node retries registering every tenth of a second: with the client it
    made for the kubeconfig it read (not a new one per attempt), and with a new one once the kubeconfig is
    rewritten (a previous cluster's may have been there)."""
    import argparse

    from orchestrator.runtimes.docker import node as agent

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("previous cluster")
    built, attempts = [], []

    class RecordingNode:
        def __init__(self, path, instance, network, api_host, labels):
            self.content = open(path).read()
            built.append(self.content)

        def register(self):
            attempts.append(self.content)
            if len(attempts) == 3:
                kubeconfig.write_text("this cluster")  # `lab up` writes the new cluster's kubeconfig
            if self.content != "this cluster" or attempts.count("this cluster") < 2:
                raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(agent, "Node", RecordingNode)
    monkeypatch.setattr(agent.time, "sleep", lambda _: None)
    args = argparse.Namespace(kubeconfig=str(kubeconfig), instance="x", network="kind", api_host="x-control-plane", labels="{}")
    node = agent.connect(args, [])
    assert node.content == "this cluster"
    assert attempts == ["previous cluster"] * 3 + ["this cluster"] * 2
    assert built == ["previous cluster", "this cluster"]


def test_crds_applied_while_the_api_server_boots(monkeypatch):
    """The docker runtime applies its CRDs at their path as soon as the API server serves: a status the boot
    explains is tried again until the server is ready; any other, or one after readiness, is the server's
    refusal, raised with its message."""
    import threading

    from orchestrator.errors import RuntimeFailure
    from orchestrator.runtimes.docker.crds import EmulatedCrds

    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "things.example.com"}}

    class Api:
        def __init__(self, *answers):
            self.answers, self.calls = list(answers), []

        def apply_at(self, path, doc):
            self.calls.append((path, doc["metadata"]["name"]))
            return self.answers.pop(0)

    def apply(api, booted=None):
        booted = booted or threading.Event()
        monkeypatch.setattr(booted, "wait", lambda timeout: booted.is_set())  # no real pause between tries
        EmulatedCrds(lambda: api).apply([crd], booted)

    booting = Api((503, {"message": "not ready"}), (404, {"message": "the server could not find the requested resource"}), (201, {}))
    apply(booting)
    assert booting.calls == [("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.example.com", "things.example.com")] * 3

    invalid = Api((422, {"message": 'CustomResourceDefinition.apiextensions.k8s.io "things.example.com" is invalid: spec.versions: Invalid value'}))
    with pytest.raises(RuntimeFailure, match=r"things.example.com: the API server refused it \(422\): .*spec.versions"):
        apply(invalid)
    assert len(invalid.calls) == 1

    ready = threading.Event()
    ready.set()
    with pytest.raises(RuntimeFailure, match=r"refused it \(503\)"):
        apply(Api((503, {"message": "still not ready"})), ready)


def test_a_new_address_replaces_the_old_in_the_status_patch():
    """A restarted container is a new one, often with a new address. podIPs merge by ip under the strategic merge
    patch the node sends: the old address is deleted in the patch, or the API server gets two of one family and
    refuses the whole status (the restart count with it), as it did in CI."""
    from orchestrator.runtimes.docker.node import Node

    node, calls = object.__new__(Node), []
    node.started, node._address = {}, "172.18.0.1"
    node._api = lambda method, path, body, content_type: calls.append((method, path, body))
    pod = {"metadata": {"name": "p", "namespace": "n", "uid": "u"}, "spec": {"containers": [{"name": "c", "image": "i"}]},
           "status": {"phase": "Running", "podIP": "172.18.0.6", "podIPs": [{"ip": "172.18.0.6"}]}}
    node.report(pod, "Running", ip="172.18.0.9", restarts=1, state={"running": {}})
    (method, path, body), = calls
    assert (method, path) == ("PATCH", "/api/v1/namespaces/n/pods/p/status")
    assert body["status"]["podIP"] == "172.18.0.9"
    assert body["status"]["podIPs"] == [{"ip": "172.18.0.9"}, {"ip": "172.18.0.6", "$patch": "delete"}]
    calls.clear()
    pod["status"] = {"phase": "Pending"}  # no address yet: nothing to delete
    node.report(pod, "Running", ip="172.18.0.9", state={"running": {}})
    assert calls[0][2]["status"]["podIPs"] == [{"ip": "172.18.0.9"}]
