"""PKI issuance: chains checked by real openssl, extensions, file modes, reuse and reissue."""

import datetime as dt
import os
import stat

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from orchestrator.pki.issue import key_algorithm
from orchestrator.pki.manager import PkiManager
from orchestrator.pki.store import PkiStore
from orchestrator.spec.model import CASpec, CertSpec, PkiSpec
from tests.helpers import openssl

SUBJECT = (("C", "AU"), ("ST", "New South Wales"), ("O", "Lab"))


def make_spec(algorithm="ecdsa-p256", server_dns=("haproxy.lab", "localhost"), server_ip=("172.18.255.249", "127.0.0.1")):
    return PkiSpec(
        root=CASpec("Test Root", 3650, algorithm, SUBJECT),
        intermediate=CASpec("Test Intermediate", 1825, algorithm, SUBJECT),
        certificates={
            "server": CertSpec("server", "server", "haproxy.lab", tuple(server_dns), tuple(server_ip), 365, algorithm, SUBJECT),
            "client": CertSpec("client", "client", "lab-client", (), (), 365, algorithm, SUBJECT),
        },
    )


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def pki(tmp_path):
    store = PkiStore(tmp_path / "pki")
    actions = PkiManager(make_spec(), store).ensure()
    return store, actions


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "rsa-2048", "rsa-3072"])
@pytest.mark.parametrize("leaf, purpose", [("server", "sslserver"), ("client", "sslclient")])
def test_openssl_verifies_every_chain(tmp_path, algorithm, leaf, purpose):
    store = PkiStore(tmp_path / algorithm)
    PkiManager(make_spec(algorithm), store).ensure()
    d = store.directory
    result = openssl("verify", "-purpose", purpose, "-CAfile", str(d / "ca.crt"), "-untrusted", str(d / "intermediate.crt"), str(d / f"{leaf}.crt"))
    assert result.stdout.strip() == f"{d / leaf}.crt: OK"
    assert key_algorithm(load(d / f"{leaf}.crt").public_key()) == algorithm


def test_openssl_rejects_leaf_without_intermediate(pki):
    store, _ = pki
    d = store.directory
    result = openssl("verify", "-CAfile", str(d / "ca.crt"), str(d / "client.crt"), check=False)
    assert result.returncode != 0


def test_root_extensions(pki):
    store, _ = pki
    root = load(store.path("ca.crt"))
    bc = root.extensions.get_extension_for_class(x509.BasicConstraints)
    ku = root.extensions.get_extension_for_class(x509.KeyUsage)
    assert bc.critical and bc.value.ca and bc.value.path_length is None
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert root.issuer == root.subject


def test_intermediate_extensions(pki):
    store, _ = pki
    root, inter = load(store.path("ca.crt")), load(store.path("intermediate.crt"))
    bc = inter.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    aki = inter.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert inter.issuer == root.subject
    text = openssl("x509", "-in", str(store.path("intermediate.crt")), "-noout", "-text").stdout
    assert "CA:TRUE, pathlen:0" in text


def test_leaf_extensions(pki):
    store, _ = pki
    server, client = load(store.path("server.crt")), load(store.path("client.crt"))
    for cert in (server, client):
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    text = openssl("x509", "-in", str(store.path("server.crt")), "-noout", "-ext", "subjectAltName").stdout
    assert "DNS:haproxy.lab, DNS:localhost, IP Address:172.18.255.249, IP Address:127.0.0.1" in text
    assert "O=Lab" in server.subject.rfc4514_string() and "CN=haproxy.lab" in server.subject.rfc4514_string()


def test_files_modes_and_bundles(pki):
    store, _ = pki
    d = store.directory
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for name in ("ca.key", "intermediate.key", "server.key", "client.key", "server.pem", "client.pem"):
        assert stat.S_IMODE(os.stat(d / name).st_mode) == 0o600, name
    for name in ("ca.crt", "intermediate.crt", "server.crt", "server-chain.crt"):
        assert stat.S_IMODE(os.stat(d / name).st_mode) == 0o644, name
    chain = x509.load_pem_x509_certificates((d / "server-chain.crt").read_bytes())
    assert [c.subject for c in chain] == [load(d / "server.crt").subject, load(d / "intermediate.crt").subject]
    bundle = (d / "server.pem").read_text()
    assert bundle.startswith("-----BEGIN PRIVATE KEY-----") and bundle.count("BEGIN CERTIFICATE") == 2
    assert not list(d.glob(".*.tmp"))


def test_rerun_reuses_everything(pki):
    store, first = pki
    before = {p.name: p.read_bytes() for p in store.directory.iterdir()}
    again = PkiManager(make_spec(), store).ensure()
    assert {a.action for a in again} == {"reused"}
    assert {p.name: p.read_bytes() for p in store.directory.iterdir()} == before
    assert {a.action for a in first} == {"issued"}


def test_changed_sans_reissue_only_that_leaf(pki):
    store, _ = pki
    ca_before = store.path("ca.crt").read_bytes()
    client_before = store.path("client.crt").read_bytes()
    actions = {a.name: a for a in PkiManager(make_spec(server_ip=("10.0.0.5",)), store).ensure()}
    assert actions["server"].action == "reissued" and actions["server"].reason == "SANs changed"
    assert actions["client"].action == "reused" and actions["ca"].action == "reused"
    assert store.path("ca.crt").read_bytes() == ca_before and store.path("client.crt").read_bytes() == client_before
    assert "IP Address:10.0.0.5" in openssl("x509", "-in", str(store.path("server.crt")), "-noout", "-ext", "subjectAltName").stdout


def test_expired_leaf_is_reissued(pki):
    store, _ = pki
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=400)
    actions = {a.name: a for a in PkiManager(make_spec(), store, now=later).ensure()}
    assert actions["server"].reason == "expired" and actions["client"].reason == "expired"
    assert actions["ca"].action == "reused"


def test_missing_key_reissues_leaf(pki):
    store, _ = pki
    store.path("client.key").unlink()
    actions = {a.name: a for a in PkiManager(make_spec(), store).ensure()}
    assert actions["client"].action == "issued" and actions["client"].reason == "missing"
    assert actions["server"].action == "reused"


def test_new_root_cascades(pki):
    store, _ = pki
    store.path("ca.key").unlink()
    actions = {a.name: a for a in PkiManager(make_spec(), store).ensure()}
    assert actions["ca"].action == "issued"
    assert actions["intermediate"].reason == "issuer changed"
    assert actions["server"].reason == "issuer changed" and actions["client"].reason == "issuer changed"


def test_force_reissues_all(pki):
    store, _ = pki
    old = store.path("ca.crt").read_bytes()
    actions = PkiManager(make_spec(), store).ensure(force=True)
    assert {a.action for a in actions} == {"reissued"}
    assert store.path("ca.crt").read_bytes() != old


def _with_impostor(self_signed=True) -> PkiSpec:
    spec = make_spec()
    impostor = CertSpec("impostor", "server", "haproxy.lab", ("haproxy.lab",), ("172.18.255.249",), 365, "ecdsa-p256", SUBJECT,
                        self_signed=self_signed)
    return PkiSpec(spec.root, spec.intermediate, {**spec.certificates, "impostor": impostor})


def test_self_signed_leaf_chains_to_no_lab_ca(tmp_path):
    """The impostor's certificate: openssl verifies it only against itself, never against the lab CA."""
    store = PkiStore(tmp_path / "pki")
    PkiManager(_with_impostor(), store).ensure()
    d = store.directory
    refused = openssl("verify", "-CAfile", str(d / "ca.crt"), "-untrusted", str(d / "intermediate.crt"), str(d / "impostor.crt"), check=False)
    assert refused.returncode != 0
    assert openssl("verify", "-CAfile", str(d / "impostor.crt"), str(d / "impostor.crt")).stdout.strip().endswith("OK")
    assert (d / "impostor.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 1  # no lab CA in its bundle
    assert stat.S_IMODE(os.stat(d / "impostor.pem").st_mode) == 0o600
    from orchestrator.pki.inspect import verify_pki

    result = {r.name: r for r in verify_pki(_with_impostor(), store)}["impostor"]
    assert result.ok and "self-signed" in result.detail


def test_switching_self_signed_reissues(tmp_path):
    store = PkiStore(tmp_path / "pki")
    PkiManager(_with_impostor(False), store).ensure()
    assert load(store.directory / "impostor.crt").issuer != load(store.directory / "impostor.crt").subject
    actions = {a.name: a for a in PkiManager(_with_impostor(True), store).ensure()}
    assert actions["impostor"].action == "reissued" and actions["server"].action == "reused"
    cert = load(store.directory / "impostor.crt")
    assert cert.issuer == cert.subject
    assert {a.name: a.action for a in PkiManager(_with_impostor(True), store).ensure()}["impostor"] == "reused"
    back = {a.name: a for a in PkiManager(_with_impostor(False), store).ensure()}["impostor"]
    assert back.action == "reissued" and back.reason == "issuer changed"


def test_cluster_pki_serves_the_controllers_from_the_cluster_ca(tmp_path):
    """The controller-manager's and scheduler's serving certificates: openssl verifies them against the cluster
    CA for their names; a PKI issued before they existed gets them without a new CA; a rerun reuses them."""
    from orchestrator.runtimes.docker.control_plane import ClusterPki

    names = {"controller-manager": ["lab-x-kube-controller-manager"], "scheduler": ["lab-x-kube-scheduler"]}
    ClusterPki(tmp_path / "pki", "x", ["x-control-plane"]).ensure()  # as issued before the serving certificates
    d = tmp_path / "pki"
    ca = (d / "ca.crt").read_bytes()
    ClusterPki(d, "x", ["x-control-plane"], names).ensure()
    assert (d / "ca.crt").read_bytes() == ca
    for component, (name,) in names.items():
        verified = openssl("verify", "-CAfile", str(d / "ca.crt"), "-purpose", "sslserver", "-verify_hostname", name, str(d / f"{component}-server.crt"))
        assert verified.stdout.strip().endswith("OK")
        refused = openssl("verify", "-CAfile", str(d / "ca.crt"), "-verify_hostname", "elsewhere", str(d / f"{component}-server.crt"), check=False)
        assert refused.returncode != 0
        assert stat.S_IMODE(os.stat(d / f"{component}-server.key").st_mode) == 0o600
    cert = (d / "scheduler-server.crt").read_bytes()
    ClusterPki(d, "x", ["x-control-plane"], names).ensure()
    assert (d / "scheduler-server.crt").read_bytes() == cert
