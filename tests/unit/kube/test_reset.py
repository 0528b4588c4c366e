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
    """Labelled objects left per kind, and the calls made."""

    def __init__(self, left: dict[str, int]):
        self.left, self.calls = left, []

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
                          ("delete", "Pod", "lab.dev/instance=x"), ("delete", "Namespace", "lab.dev/instance=x"),
                          ("wait", ["CiliumNetworkPolicy", "CiliumClusterwideEnvoyConfig", "Pod", "Namespace"], "lab.dev/instance=x", 30)]


def test_nothing_deleted_waits_for_nothing():
    kube = Kube({})
    assert reset(kube, DOCS, "lab.dev/instance=x", 30) == []
    assert [c[0] for c in kube.calls] == ["delete"] * 4
