"""cert-manager's controllers, built from its Go module (scripts/components/cert-manager), as a pod on the docker
runtime's control plane: the self-signed → CA → server chain issued into real Secrets, and a certificate from the
wrong issuer seen as such. The step toward hubble-tls (seed 000) whose certificate half runs here."""

from __future__ import annotations

import json
import os
import subprocess

from tests.e2e.conftest import KUBECTL, REPO, labelled, lab
from tests.helpers import FIXTURE_LABS

NOTHING = {"containers": [], "networks": [], "volumes": []}


def test_cert_manager_issues_a_ca_chain(tmp_path, docker_engine):
    (tmp_path / "images.yaml").write_text((REPO / "images.local.yaml").read_text())
    env = {**os.environ, "LAB_PATH": str(FIXTURE_LABS)}
    try:
        result = lab(tmp_path, "up", "cert-manager-ca", "--images", "images.yaml", "--output", "json", env=env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
        assert checks["server-from-the-ca"]["status"] == "passed" and checks["wrong-not-from-the-ca"]["status"] == "passed"
        assert checks["server-from-the-ca"]["seen"]["issuer"] == "CN=lab-ca"
        assert checks["wrong-not-from-the-ca"]["seen"]["issuer"] == "CN=*.default.hubble-grpc.cilium.io"  # self-signed

        kubeconfig = str(tmp_path / ".lab/cert-manager-ca/kubeconfig")
        server = json.loads(subprocess.run([str(KUBECTL), "--kubeconfig", kubeconfig, "-n", "cert-manager", "get", "certificate", "server",
                                            "-o", "json"], capture_output=True, text=True, timeout=60, check=True).stdout)
        assert server["status"]["revision"] == 1 and server["status"]["conditions"][0]["reason"] == "Ready"
        requests = json.loads(subprocess.run([str(KUBECTL), "--kubeconfig", kubeconfig, "-n", "cert-manager", "get", "certificaterequests",
                                              "-o", "json"], capture_output=True, text=True, timeout=60, check=True).stdout)["items"]
        approved = {r["metadata"]["name"].rsplit("-", 1)[0]: [c["type"] for c in r["status"]["conditions"] if c["status"] == "True"]
                    for r in requests}
        assert approved["server"] == ["Approved", "Ready"]  # the approver approved it, the CA issuer signed it
        # The same check kind says verified for the CA's certificate and not for the self-signed one: it tells them apart.
        verify = lab(tmp_path, "verify", "cert-manager-ca", "--output", "json", env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        down = lab(tmp_path, "down", "cert-manager-ca", env=env)
    assert down.returncode == 0, down.stderr
    assert labelled(docker_engine, "cert-manager-ca") == NOTHING
