"""`lab up webhook-ca-repair --runtime docker`: MetalLB's real controller (built from its Go module) on the real
control plane; its webhooks healed by the rotator, broken the seed's way (the API server's own x509 refusal),
repaired the seed's way; then the end state broken by hand makes `verify` fail; nothing left after `down`."""

from __future__ import annotations

import base64
import json
import subprocess

from tests.e2e.conftest import REPO, lab_kubectl, labelled, lab

INSTANCE_GROUP = "webhook-ca-repair"  # the tier's side-by-side groups: tests/e2e/conftest.py

NOTHING = {"containers": [], "networks": [], "volumes": []}
UP = ["up", "webhook-ca-repair", "--runtime", "docker", "--images", "images.yaml"]


def kubectl(labdir, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return lab_kubectl(labdir, "webhook-ca-repair", *args, check=check)


def test_webhook_trust_broken_and_repaired(tmp_path, docker_engine):
    (tmp_path / "images.yaml").write_text((REPO / "images.local.yaml").read_text())
    try:
        result = lab(tmp_path, *UP, "--output", "json")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        report = json.loads(result.stdout)
        by_name = {c["name"]: c for c in report["checks"]}
        assert all(c["status"] == "passed" for c in report["checks"]) and len(by_name) == 12
        # The seed's error, word for word, from the real API server calling the real webhook.
        refused = by_name["pool-refused-x509"]["seen"]["message"]
        assert 'failed calling webhook "ipaddresspoolvalidationwebhook.metallb.io"' in refused
        assert "https://metallb-webhook-service.metallb-system.svc:443/validate-metallb-io-v1beta1-ipaddresspool" in refused
        assert "x509: certificate signed by unknown authority" in refused
        assert by_name["serving-cert-foreign"]["seen"]["issuer"] == "CN=Lab Intermediate CA,O=Lab"
        assert by_name["address-assigned"]["seen"]["addresses"] == ["172.18.255.200"]

        # What ran: the controller without rotation (the seed's cluster), no speaker (left out, and said so).
        deployment = json.loads(kubectl(tmp_path, "-n", "metallb-system", "get", "deployment", "controller", "-o", "json").stdout)
        assert "--disable-cert-rotation" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert kubectl(tmp_path, "-n", "metallb-system", "get", "daemonset", "speaker", check=False).returncode != 0
        shown = lab(tmp_path, "show", "webhook-ca-repair")
        assert "without DaemonSet speaker on docker" in shown.stdout
        pods = json.loads(kubectl(tmp_path, "-n", "metallb-system", "get", "pods", "-o", "json").stdout)["items"]
        assert [p["status"]["phase"] for p in pods] == ["Running"]
        # The repaired certificate is the Secret CA's, for the Service's name, as the seed's openssl verify said.
        secret = json.loads(kubectl(tmp_path, "-n", "metallb-system", "get", "secret", "metallb-webhook-cert", "-o", "json").stdout)
        (tmp_path / "ca.pem").write_bytes(base64.b64decode(secret["data"]["ca.crt"]))
        (tmp_path / "tls.pem").write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
        verified = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "tls.pem")],
                                  capture_output=True, text=True)
        assert verified.returncode == 0 and verified.stdout.strip().endswith(": OK"), verified.stdout + verified.stderr

        # The end state passes `verify`; then each final check fails when its thing is broken by hand.
        assert lab(tmp_path, "verify", "webhook-ca-repair").returncode == 0
        foreign = base64.b64encode((tmp_path / "certs/webhook-ca-repair/ca.crt").read_bytes()).decode()
        patch = json.dumps([{"op": "replace", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": foreign} for i in range(6)])
        kubectl(tmp_path, "patch", "validatingwebhookconfiguration", "metallb-webhook-configuration", "--type", "json", "-p", patch)
        broken = lab(tmp_path, "verify", "webhook-ca-repair", "--output", "json")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        failed = {c["name"]: c for c in json.loads(broken.stdout)["checks"] if c["status"] == "failed"}
        assert set(failed) == {"ca-bundles-repaired", "pool-admitted-again"}, failed
        assert "6 caBundle(s) differ" in failed["ca-bundles-repaired"]["message"]
        assert "x509: certificate signed by unknown authority" in failed["pool-admitted-again"]["message"]

        kubectl(tmp_path, "-n", "lb-demo", "patch", "service", "web-lb", "-p", '{"spec": {"type": "ClusterIP"}}')
        broken = lab(tmp_path, "verify", "webhook-ca-repair", "--output", "json")
        failed = {c["name"]: c for c in json.loads(broken.stdout)["checks"] if c["status"] == "failed"}
        assert "address-kept" in failed and "has no load-balancer address" in failed["address-kept"]["message"]

        # Broken from outside, `up` converges from what it finds: what the lab made is deleted (as the API server
        # answers, "not found" counting as gone) and every stage is replayed and checked.
        healed = lab(tmp_path, *UP)
        assert healed.returncode == 0, healed.stdout[-3000:] + healed.stderr[-3000:]
        assert lab(tmp_path, "verify", "webhook-ca-repair").returncode == 0

        guide = lab(tmp_path, "guide", "webhook-ca-repair", "--out", "guide", "--format", "md")
        assert guide.returncode == 0, guide.stderr
        md = (tmp_path / "guide/guide.md").read_text()
        assert "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key" in md
        assert "kubectl patch validatingwebhookconfiguration metallb-webhook-configuration --type json" in md
        assert "kubectl -n metallb-system rollout restart deployment/controller" in md
    finally:
        down = lab(tmp_path, "down", "webhook-ca-repair")
    assert down.returncode == 0, down.stderr
    assert labelled(docker_engine, "webhook-ca-repair") == NOTHING
    assert not (tmp_path / ".lab/webhook-ca-repair").exists()
