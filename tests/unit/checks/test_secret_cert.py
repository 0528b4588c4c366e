"""`secret-cert` against Secrets as the API server returns them (the Kubernetes API is the boundary, faked by the
Secrets it would hold): the CA read from another namespace's Secret (a ClusterIssuer's, in cert-manager's
namespace), and the certificate's issued duration; each expectation fails when its thing is not so."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization

from orchestrator.checks.registry import default_checks
from orchestrator.errors import RuntimeFailure
from orchestrator.pki.issue import Issuer, Validity, build_name, issue_leaf, issue_root, new_key
from orchestrator.spec.model import Check

NOW = dt.datetime.now(dt.timezone.utc)


def pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class Secrets:
    """KubeApi.secret_values over fixed Secrets, refusing a missing Secret or key as the real one does."""

    def __init__(self, secrets: dict[tuple[str, str], dict[str, bytes]]):
        self.secrets = {where: {k: base64.b64encode(v).decode() for k, v in data.items()} for where, data in secrets.items()}
        self.read: list[tuple[str, str]] = []

    def secret_values(self, namespace, name, *keys):
        self.read.append((namespace, name))
        if (namespace, name) not in self.secrets:
            raise RuntimeFailure(f"Secret {namespace}/{name} not found")
        data = self.secrets[(namespace, name)]
        for key in keys:
            if key not in data:
                raise RuntimeFailure(f"Secret {namespace}/{name} has no key {key}")
        return [base64.b64decode(data[key]) for key in keys]


class Runtime:
    def __init__(self, kube):
        self.kube = kube


@pytest.fixture
def world():
    ca_key, other_key = new_key("ecdsa-p256"), new_key("ecdsa-p256")
    ca = issue_root(ca_key, build_name("my-selfsigned-ca"), Validity.days_from(NOW, 3650))
    other = issue_root(other_key, build_name("my-selfsigned-ca"), Validity.days_from(NOW, 3650))  # same name, other key
    server = issue_leaf(new_key("ecdsa-p256"), build_name("*.default.hubble-grpc.cilium.io"), Validity(NOW, NOW + dt.timedelta(days=1095)),
                        Issuer(ca_key, ca), usage="server", dns=("*.default.hubble-grpc.cilium.io",))
    return Secrets({("kube-system", "hubble-server-certs"): {"tls.crt": pem(server), "ca.crt": pem(ca)},
                    ("cert-manager", "root-secret"): {"tls.crt": pem(ca), "ca.crt": pem(ca)},
                    ("kube-system", "root-secret"): {"ca.crt": pem(other)}})


def attempt(kube, expect, **params):
    check = Check("secret-cert", {"namespace": "kube-system", "name": "hubble-server-certs", **params}, expect)
    return default_checks().get("secret-cert").attempt(check, Runtime(kube), 1, 0)


def test_the_ca_is_read_from_its_own_namespace(world):
    seen = attempt(world, {"verified": True, "issuerCN": "my-selfsigned-ca"}, caSecret="root-secret", caNamespace="cert-manager")
    assert seen.problems == [] and seen.seen["verified"] is True
    assert world.read == [("kube-system", "hubble-server-certs"), ("cert-manager", "root-secret")]
    # Without caNamespace the same name in the certificate's namespace is another CA: not verified.
    elsewhere = attempt(world, {"verified": True}, caSecret="root-secret")
    assert elsewhere.problems and "does not verify against root-secret/ca.crt" in elsewhere.problems[0]


def test_validity_days_is_the_issued_duration(world):
    assert attempt(world, {"validityDays": 1095}).problems == []
    wrong = attempt(world, {"validityDays": 365})
    assert wrong.problems == ["issued for 1095 days, expected 365"] and wrong.seen["validityDays"] == 1095


def test_a_missing_ca_secret_is_named(world):
    missing = attempt(world, {"verified": True}, caSecret="nope", caNamespace="cert-manager")
    assert missing.problems == ["Secret cert-manager/nope not found"]
