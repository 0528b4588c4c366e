"""Two instances side by side through the pytest plugin's fixture: isolated objects, independent teardown."""

import pytest

from tests.e2e.conftest import CONTROL_PLANE, IMAGES, labelled

pytestmark = pytest.mark.engine_wide  # it asserts that the last instance down removes every network lab made

IMAGE_SETS = [f"images.{k}={v}" for k, v in {**IMAGES, **CONTROL_PLANE}.items()]


def test_two_instances_run_side_by_side(lab_instance, docker_engine):
    first = lab_instance("inject-mtls", runtime="docker", sets=IMAGE_SETS, instance="iso-a")
    second = lab_instance("inject-mtls", runtime="docker", instance="iso-b",
                          sets=[*IMAGE_SETS, "haproxy.ip=172.18.255.200", "namespace=iso-b"])
    assert [r.status for r in first.results] == ["passed"] * 6
    assert [r.status for r in second.results] == ["passed"] * 6
    assert {c for c in labelled(docker_engine, "iso-b")["containers"]} >= {
        "lab-iso-b-curl", "lab-iso-b-envoy", "lab-iso-b-haproxy-1", "lab-iso-b-echo-1", "lab-iso-b-kube-apiserver"}
    first.down()
    assert labelled(docker_engine, "iso-a")["containers"] == []
    assert [r.status for r in second.verify()] == ["passed", "passed", "passed"]  # untouched by the other's teardown
    second.down()
    # iso-a created the kind network; the last one down removes it
    assert docker_engine.networks.list(filters={"label": "app.kubernetes.io/managed-by=lab"}) == []
