"""`lab exec/logs/shell POD`: the pod a person names, by the names the lab's manifests give (a Pod, a workload), or
one the API server has in the lab's namespaces; anything else is refused naming the lab's pods."""

from __future__ import annotations

import pytest

from orchestrator.errors import BadInput
from orchestrator.kube.apply import pod_named

DOCS = [
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "curl", "namespace": "mtls"}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "deathstar", "namespace": "default"},
     "spec": {"template": {"metadata": {"labels": {"org": "empire", "class": "deathstar"}}}}},
]


class Kube:
    """The API's pods, and the calls made for them."""

    def __init__(self, pods):
        self.pods, self.calls = pods, []

    def list(self, api_version, kind, namespace):
        self.calls.append((api_version, kind, namespace))
        return [p for p in self.pods if p["metadata"]["namespace"] == namespace]


def _pod(namespace, name, labels=None, phase="Running"):
    return {"metadata": {"namespace": namespace, "name": name, "labels": labels or {}}, "status": {"phase": phase}}


def test_a_pod_of_the_manifests_by_name_asks_nothing():
    kube = Kube([])
    assert pod_named(kube, DOCS, "curl") == ("mtls", "curl")
    assert pod_named(kube, DOCS, "mtls/curl") == ("mtls", "curl")
    assert kube.calls == []


def test_a_workload_is_its_running_pod():
    kube = Kube([_pod("default", "deathstar-abc", {"org": "empire", "class": "deathstar"}, "Pending"),
                 _pod("default", "deathstar-xyz", {"org": "empire", "class": "deathstar"}),
                 _pod("default", "tiefighter", {"org": "empire"})])
    assert pod_named(kube, DOCS, "deathstar") == ("default", "deathstar-xyz")


def test_a_pod_the_api_has_in_the_labs_namespaces():
    kube = Kube([_pod("default", "deathstar-xyz"), _pod("kube-system", "cilium-1")])
    assert pod_named(kube, DOCS, "deathstar-xyz") == ("default", "deathstar-xyz")
    assert ("v1", "Pod", "kube-system") not in kube.calls  # only the lab's namespaces are searched


@pytest.mark.parametrize("given, expected", [
    ("nope", "POD nope: no pod of the lab has that name (its pods and workloads: mtls/curl, default/deathstar)"),
    ("other/curl", "POD other/curl: no pod of the lab has that name"),
    ("../etc", "POD '../etc': not a pod name (NAME or NAMESPACE/NAME)"),
    ("Curl", "not a pod name"),
    ("curl\n", "not a pod name"),
    ("a/b/c", "not a pod name"),
])
def test_anything_else_is_refused_naming_the_labs_pods(given, expected):
    with pytest.raises(BadInput) as err:
        pod_named(Kube([_pod("default", "x")]), DOCS, given)
    assert expected in err.value.message
