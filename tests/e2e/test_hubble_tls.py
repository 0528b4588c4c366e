"""`lab up hubble-tls --runtime docker`: the certificate half of seed 000 for real. cert-manager's controllers (built
from its Go module) run as a pod of the real control plane; the Certificates are the ones the real Cilium chart
renders (`helm template` with the step's values); the wrong issuer and the repair are seen in the real Secrets;
the end state broken by hand makes `verify` fail; nothing is left after `down`."""

from __future__ import annotations

import json
import subprocess

from tests.e2e.conftest import REPO, lab_kubectl, labelled, lab

INSTANCE_GROUP = "hubble-tls"  # the tier's side-by-side groups: tests/e2e/conftest.py

NOTHING = {"containers": [], "networks": [], "volumes": []}
UP = ["up", "hubble-tls", "--runtime", "docker", "--images", "images.yaml"]


def kubectl(labdir, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return lab_kubectl(labdir, "hubble-tls", *args, check=check)


def test_hubble_certificates_from_cert_manager(tmp_path, docker_engine):
    (tmp_path / "images.yaml").write_text((REPO / "images.local.yaml").read_text())
    try:
        result = lab(tmp_path, *UP, "--output", "json")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
        # Hubble's server needs Cilium: its TLS checks are kind's, and say so; the certificate checks all ran.
        assert {n for n, c in checks.items() if c["status"] == "skipped"} == {
            "hubble-tls-with-client-certificate", "hubble-tls-without-client-certificate", "hubble-plain-refused",
            "hubble-tls-unknown-authority", "hubble-tls-repaired"}
        assert all(c["status"] == "passed" for c in checks.values() if c["status"] != "skipped") and len(checks) == 10
        assert checks["server-certificate-from-the-ca"]["seen"]["issuer"] == "CN=my-selfsigned-ca"
        assert checks["server-certificate-from-the-ca"]["seen"]["validityDays"] == 1095  # certValidityDuration
        assert checks["server-certificate-not-from-the-ca"]["seen"]["issuer"] == "CN=*.default.hubble-grpc.cilium.io"  # its own root

        # The Certificates are the chart's (its names, usages and duration), labelled so `down` finds them.
        server = json.loads(kubectl(tmp_path, "-n", "kube-system", "get", "certificate", "hubble-server-certs", "-o", "json").stdout)
        assert server["spec"]["duration"] == "26280h0m0s" and server["spec"]["issuerRef"]["name"] == "my-ca-issuer"
        assert "server auth" in server["spec"]["usages"] and server["metadata"]["labels"]["lab.dev/instance"] == "hubble-tls"
        # Issued from the CA, reissued self-signed, reissued from the CA, each reissue for its issuer's change. On a
        # busy machine cert-manager may issue once more than asked (a stale read of the Secret; upstream
        # cert-manager#3603, #4956): at least three revisions, and both reissues for the reason the lab teaches.
        assert server["status"]["revision"] >= 3
        events = json.loads(kubectl(tmp_path, "-n", "kube-system", "get", "events", "--field-selector",
                                    "involvedObject.name=hubble-server-certs", "-o", "json").stdout)["items"]
        issuing = [e["message"] for e in events if e["reason"] == "Issuing"]
        for issuer in ("my-ca-issuer", "selfsigned-cluster-issuer"):
            assert f'Issuing certificate as Secret was previously issued by "ClusterIssuer.cert-manager.io/{issuer}"' in issuing, issuing
        # Of the rendered chart only what the lab says the runtime emulates: no Cilium workload, not its configuration.
        assert json.loads(kubectl(tmp_path, "-n", "kube-system", "get", "daemonsets,deployments", "-o", "json").stdout)["items"] == []
        assert kubectl(tmp_path, "-n", "kube-system", "get", "configmap", "cilium-config", check=False).returncode != 0
        requests = json.loads(kubectl(tmp_path, "-n", "kube-system", "get", "certificaterequests", "-o", "json").stdout)["items"]
        approved = [[c["type"] for c in r["status"]["conditions"] if c["status"] == "True"] for r in requests
                    if r["metadata"]["name"].startswith("hubble-server-certs-")]
        assert approved and all(a == ["Approved", "Ready"] for a in approved)  # the approver approved, the issuers signed

        # The end state passes `verify`; each final check fails when its thing is broken: Relay's Certificate moved to
        # the self-signed issuer, and a duration the chart was not asked for (one run: a failing check waits its timeout).
        assert lab(tmp_path, "verify", "hubble-tls").returncode == 0
        kubectl(tmp_path, "-n", "kube-system", "patch", "certificate", "hubble-relay-client-certs", "--type", "merge",
                "-p", '{"spec": {"issuerRef": {"name": "selfsigned-cluster-issuer"}}}')
        broken = lab(tmp_path, "verify", "hubble-tls", "--set", "hubble.certValidityDays=365", "--output", "json")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        failed = {c["name"]: c["message"] for c in json.loads(broken.stdout)["checks"] if c["status"] == "failed"}
        assert set(failed) == {"relay-certificate-repaired", "server-certificate-repaired"}, failed
        assert "does not verify against cert-manager/root-secret/ca.crt" in failed["relay-certificate-repaired"]
        assert failed["server-certificate-repaired"] == "issued for 1095 days, expected 365"
        # More broken from outside: the server's Secret replaced by one holding no certificate. `up` converges from
        # what it finds (the Certificates made again, cert-manager issues anew), every stage replayed and checked.
        kubectl(tmp_path, "-n", "kube-system", "patch", "secret", "hubble-server-certs", "--type", "merge",
                "-p", '{"data": {"tls.crt": "bm90IGEgY2VydGlmaWNhdGU="}}')
        healed = lab(tmp_path, *UP)
        assert healed.returncode == 0, healed.stdout[-3000:] + healed.stderr[-2000:]
        assert lab(tmp_path, "verify", "hubble-tls").returncode == 0
    finally:
        down = lab(tmp_path, "down", "hubble-tls")
    assert down.returncode == 0, down.stderr
    assert labelled(docker_engine, "hubble-tls") == NOTHING
