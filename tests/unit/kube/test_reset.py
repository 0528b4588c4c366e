"""A reset deletes what the lab's manifests made, by the lab's labels, in an order the API server and the network
plugin can follow (a policy before the config it points at, namespaces last), then waits until all of it is gone."""

from __future__ import annotations

from orchestrator.kube.apply import reset
from orchestrator.kube.objects import deletion_order

DOCS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mtls"}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "curl", "namespace": "mtls"}},
    {"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideEnvoyConfig", "metadata": {"name": "envoy"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cilium-secrets"}},
    {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "redirect", "namespace": "mtls"}},
]


class Kube:
    """Labelled objects left per kind, the Secrets in the cluster, and the calls made."""

    def __init__(self, left: dict[str, int], secrets=()):
        self.left, self.secrets, self.calls = left, list(secrets), []

    def labelled(self, api_version, kind, selector):
        return [{"metadata": {"name": f"{kind}-{i}", "uid": f"uid-{kind}-{i}"}} for i in range(self.left.get(kind, 0))]

    def list(self, api_version, kind):
        self.calls.append(("list", kind))
        return self.secrets if kind == "Secret" else []

    def delete(self, api_version, kind, name, namespace):
        self.calls.append(("delete-one", kind, namespace, name))
        return f"{kind} {namespace}/{name}"

    def delete_labelled(self, api_version, kind, selector):
        self.calls.append(("delete", kind, selector))
        return [f"{kind} {i}" for i in range(self.left.get(kind, 0))]

    def wait_deleted(self, kinds, selector, timeout):
        self.calls.append(("wait", [k for _v, k in kinds], selector, timeout))


def test_namespaces_go_last_and_the_rest_in_reverse():
    assert deletion_order(DOCS) == [("cilium.io/v2", "CiliumNetworkPolicy"), ("cilium.io/v2", "CiliumClusterwideEnvoyConfig"),
                                    ("v1", "Pod"), ("v1", "Namespace")]


def test_reset_deletes_every_kind_by_the_labels_then_waits_for_all_of_it():
    kube = Kube({"Pod": 1, "Namespace": 2})
    removed = reset(kube, DOCS, "lab.dev/instance=x", 30)
    assert removed == ["Pod 0", "Namespace 0", "Namespace 1"]
    assert kube.calls == [("delete", "CiliumNetworkPolicy", "lab.dev/instance=x"), ("delete", "CiliumClusterwideEnvoyConfig", "lab.dev/instance=x"),
                          ("delete", "Pod", "lab.dev/instance=x"), ("delete", "Namespace", "lab.dev/instance=x"), ("list", "Secret"),
                          ("wait", ["CiliumNetworkPolicy", "CiliumClusterwideEnvoyConfig", "Pod", "Namespace"], "lab.dev/instance=x", 30)]


def test_nothing_deleted_waits_for_nothing():
    kube = Kube({})
    assert reset(kube, DOCS, "lab.dev/instance=x", 30) == []
    assert [c[0] for c in kube.calls] == ["delete"] * 4 + ["list"]


def _secret(name, *owners):
    return {"metadata": {"name": name, "namespace": "kube-system", "ownerReferences": [{"uid": uid} for uid in owners]}}


def test_secrets_the_labs_objects_own_go_with_them_and_no_other():
    """cert-manager's Secret of a lab's Certificate would keep the last run's certificate; a Secret owned by
    something else, or by nothing, is not the lab's to delete."""
    docs = [{"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c", "namespace": "kube-system"}}]
    kube = Kube({"Certificate": 1}, [_secret("hubble-server-certs", "uid-Certificate-0"), _secret("someone-elses", "uid-other"), _secret("plain")])
    removed = reset(kube, docs, "lab.dev/instance=x", 30)
    assert removed == ["Certificate 0", "Secret kube-system/hubble-server-certs"]
    assert [c for c in kube.calls if c[0] == "delete-one"] == [("delete-one", "Secret", "kube-system", "hubble-server-certs")]
