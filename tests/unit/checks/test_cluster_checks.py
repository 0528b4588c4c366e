"""The csr and cluster-cert check kinds pass on what a working cluster shows and fail, saying why, when the
thing they check is broken. Certificates come from the project's PKI engine; the serving certificate is read
by a real TLS handshake with a local server."""

from __future__ import annotations

import base64
import datetime as dt
import ssl
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.checks.cluster_cert import ClusterCertCheck
from orchestrator.checks.csr import CsrCheck
from orchestrator.kube.kubeconfig import kubeconfig
from orchestrator.pki.issue import Issuer, Validity, build_name, issue_leaf, issue_root, new_key
from orchestrator.pki.store import cert_pem, key_pem
from orchestrator.spec.model import Check

NOW = dt.datetime.now(dt.timezone.utc)


def make_ca(cn: str = "kubernetes") -> Issuer:
    key = new_key("ecdsa-p256")
    return Issuer(key, issue_root(key, build_name(cn), Validity.days_from(NOW, 3650)))


def admin_kubeconfig(tmp_path: Path, ca: Issuer, server: str = "https://127.0.0.1:6443") -> Path:
    key = new_key("ecdsa-p256")
    cert = issue_leaf(key, build_name("kubernetes-admin", (("O", "system:masters"),)), Validity.days_from(NOW, 365), ca, usage="client")
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig("lab", server, cert_pem(ca.cert), "kubernetes-admin", cert_pem(cert), key_pem(key)))
    return path


# ---- csr

def signed_csr_object(ca: Issuer, cn="ringu", groups=("k8sproject",), seconds=86400, approved=True, usage="client") -> dict:
    key = new_key("rsa-2048")
    backdated = Validity(NOW - dt.timedelta(minutes=5), NOW - dt.timedelta(minutes=5) + dt.timedelta(seconds=seconds))
    cert = issue_leaf(key, build_name(cn, tuple(("O", g) for g in groups)), backdated, ca, usage=usage)
    conditions = [{"type": "Approved", "status": "True"}] if approved else []
    return {"metadata": {"name": cn, "creationTimestamp": NOW.isoformat()},
            "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"], "expirationSeconds": seconds},
            "status": {"conditions": conditions, **({"certificate": base64.b64encode(cert_pem(cert)).decode()} if approved else {})}}


EXPECT = {"approved": True, "signerName": "kubernetes.io/kube-apiserver-client", "subjectCN": "ringu", "subjectO": ["k8sproject"],
          "usage": "clientAuth", "lifetimeSeconds": 86400, "issuedByClusterCA": True}


def run_csr_check(tmp_path, obj: dict, cluster_ca: Issuer):
    runtime = SimpleNamespace(kubeconfig=admin_kubeconfig(tmp_path, cluster_ca),
                              kube=SimpleNamespace(get=lambda api_version, kind, name: obj))
    return CsrCheck().attempt(Check("csr", {"name": "ringu"}, dict(EXPECT)), runtime, 10, 0)


def test_csr_check_passes_on_the_certificate_the_cluster_issued(tmp_path):
    ca = make_ca()
    observation = run_csr_check(tmp_path, signed_csr_object(ca), ca)
    assert observation.passed, observation.problems
    assert observation.seen["lifetimeSeconds"] == 86400 and observation.seen["subjectO"] == ["k8sproject"]


@pytest.mark.parametrize("broken, problem", [
    (lambda ca: signed_csr_object(make_ca("someone else")), "issuedByClusterCA is False"),
    (lambda ca: signed_csr_object(ca, approved=False), "Approved=False"),
    (lambda ca: signed_csr_object(ca, groups=("dev1",)), "subject O is ['dev1']"),
    (lambda ca: signed_csr_object(ca, cn="john"), "subjectCN is 'john'"),
    (lambda ca: signed_csr_object(ca, seconds=3600), "valid for 3600 s"),
    (lambda ca: signed_csr_object(ca, usage="server"), "extended key usage ['serverAuth']"),
])
def test_csr_check_fails_when_the_certificate_is_not_the_one_asked_for(tmp_path, broken, problem):
    ca = make_ca()
    observation = run_csr_check(tmp_path, broken(ca), ca)
    assert not observation.passed and any(problem in p for p in observation.problems), observation.problems


# ---- cluster-cert

@pytest.fixture
def api_server(tmp_path):
    """A TLS server presenting a serving certificate issued by `ca` (the API server's stand-in for the handshake)."""
    servers = []

    def start(ca: Issuer, days: int = 365, dns=("kubernetes.default.svc", "localhost")) -> str:
        key = new_key("ecdsa-p256")
        cert = issue_leaf(key, build_name("kube-apiserver"), Validity.days_from(NOW, days), ca, usage="server", dns=tuple(dns), ips=("127.0.0.1",))
        folder = tmp_path / f"server{len(servers)}"
        folder.mkdir()
        (folder / "tls.crt").write_bytes(cert_pem(cert))
        (folder / "tls.key").write_bytes(key_pem(key))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "tls.crt", folder / "tls.key")
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)

        def serve():
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                try:
                    with context.wrap_socket(conn, server_side=True):
                        pass
                except (ssl.SSLError, OSError):
                    pass

        threading.Thread(target=serve, daemon=True).start()
        servers.append(sock)
        return f"https://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for sock in servers:
        sock.close()


def run_cluster_cert(tmp_path, server: str, cluster_ca: Issuer, expect: dict):
    runtime = SimpleNamespace(kubeconfig=admin_kubeconfig(tmp_path, cluster_ca, server),
                              cluster_certificates=lambda: ([("ca", cert_pem(cluster_ca.cert))], ""))
    return ClusterCertCheck().attempt(Check("cluster-cert", {}, expect), runtime, 10, 0)


def test_cluster_cert_passes_on_a_serving_certificate_of_the_cluster_ca(tmp_path, api_server):
    ca = make_ca()
    observation = run_cluster_cert(tmp_path, api_server(ca), ca, {"issuedByClusterCA": True, "minDaysLeft": 30, "dns": "kubernetes.default.svc"})
    assert observation.passed, observation.problems
    assert "CERTIFICATE" in observation.output and "kubernetes" in observation.output  # the table of the cluster's certificates


@pytest.mark.parametrize("server_ca, days, expect, problem", [
    ("other", 365, {"issuedByClusterCA": True}, "does not chain to the cluster CA"),
    ("cluster", 10, {"minDaysLeft": 30}, "days left, expected at least 30"),
    ("cluster", 365, {"dns": "kubernetes.default.svc.cluster.local"}, "do not include kubernetes.default.svc.cluster.local"),
])
def test_cluster_cert_fails_when_the_serving_certificate_is_wrong(tmp_path, api_server, server_ca, days, expect, problem):
    ca = make_ca()
    served_by = ca if server_ca == "cluster" else make_ca("an impostor CA")
    observation = run_cluster_cert(tmp_path, api_server(served_by, days), ca, expect)
    assert not observation.passed and any(problem in p for p in observation.problems), observation.problems
