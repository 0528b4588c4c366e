"""The docker runtime's real control plane: a Deployment and a Service run as Kubernetes would run them, and
the API server judges Cilium objects against the real CRDs."""

from __future__ import annotations

import shutil

from tests.e2e.conftest import REPO, kubectl, labelled, lab
from tests.helpers import FIXTURE_LABS, LABS

NOTHING = {"containers": [], "networks": [], "volumes": []}


def test_deployment_and_service_reached_by_name(tmp_path, docker_engine):
    (tmp_path / "images.yaml").write_text((REPO / "images.local.yaml").read_text() + "  web: lab.local/echo:test\n")
    env = {"LAB_PATH": str(FIXTURE_LABS)}
    import os

    env = {**os.environ, **env}
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
    finally:
        down = lab(tmp_path, "down", "deploy-svc", env=env)
    assert down.returncode == 0, down.stderr
    assert labelled(docker_engine, "deploy-svc") == NOTHING


def test_a_cilium_object_the_crd_forbids_is_refused_by_the_api_server(tmp_path, docker_engine):
    import os

    labs = tmp_path / "labs"
    shutil.copytree(LABS / "inject-mtls", labs / "inject-mtls")
    cnp = labs / "inject-mtls/templates/cnp.yaml.j2"
    cnp.write_text(cnp.read_text().replace("  endpointSelector: {}", "  endpointSelector: everything"))
    (tmp_path / "images.yaml").write_text((REPO / "images.local.yaml").read_text())
    env = {**os.environ, "LAB_PATH": str(labs)}
    result = lab(tmp_path, "up", "inject-mtls", "--runtime", "docker", "--images", "images.yaml", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "apply cilium-objects: apply CiliumNetworkPolicy mtls-inject/mtls-injection-policy: the API server refused it (" in result.stderr
    assert "spec.endpointSelector" in result.stderr, result.stderr  # the server's own message names the field
    assert list((tmp_path / ".lab/logs/inject-mtls").iterdir())  # logs collected
    assert labelled(docker_engine) == NOTHING  # torn down after the failure
    assert lab(tmp_path, "down", "inject-mtls", env=env).returncode == 0
