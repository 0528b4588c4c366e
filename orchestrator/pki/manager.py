"""Load-or-generate: reuse what is on disk and still right, reissue only what is missing, expired or changed.

Reuse matters: a rerun must not break what is already deployed with the current CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from orchestrator.pki.issue import (
    Issuer,
    Validity,
    build_name,
    issue_intermediate,
    issue_leaf,
    issue_root,
    key_algorithm,
    new_key,
)
from orchestrator.pki.store import PkiStore, cert_pem, key_pem
from orchestrator.spec.model import CASpec, CertSpec, PkiSpec

RENEW_BEFORE = dt.timedelta(days=1)


@dataclass(frozen=True)
class CertAction:
    name: str
    action: str  # issued | reissued | reused
    reason: str = ""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _same_key(cert: x509.Certificate, key) -> bool:
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:
        return False


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(ext.get_values_for_type(x509.DNSName)), {str(i) for i in ext.get_values_for_type(x509.IPAddress)}


def _usage(cert: x509.Certificate) -> str | None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if ExtendedKeyUsageOID.SERVER_AUTH in eku:
        return "server"
    if ExtendedKeyUsageOID.CLIENT_AUTH in eku:
        return "client"
    return None


class PkiManager:
    def __init__(self, spec: PkiSpec, store: PkiStore, now: dt.datetime | None = None):
        self.spec = spec
        self.store = store
        self.now = now or _now()

    def _stale_reason(self, cert, key, cn: str, subject, algorithm: str, issuer: x509.Certificate | None) -> str | None:
        """Why existing material cannot be reused, or None when it can."""
        if cert is None or key is None:
            return "missing"
        if not _same_key(cert, key):
            return "key does not match certificate"
        if cert.not_valid_after_utc - RENEW_BEFORE <= self.now:
            return "expired" if cert.not_valid_after_utc <= self.now else "expires within a day"
        if cert.subject != build_name(cn, subject):
            return "subject changed"
        if key_algorithm(key) != algorithm:
            return f"key algorithm changed to {algorithm}"
        if issuer is not None and not _signed_by(cert, issuer):
            return "issuer changed"
        return None

    def _ca(self, name: str, spec: CASpec, parent: Issuer | None, force: bool, actions: list[CertAction]) -> Issuer:
        cert, key = self.store.read_cert(f"{name}.crt"), self.store.read_key(f"{name}.key")
        reason = self._stale_reason(cert, key, spec.cn, spec.subject, spec.algorithm, parent.cert if parent else cert)
        if reason is None and force:
            reason = "forced"
        if reason is None:
            actions.append(CertAction(name, "reused"))
            return Issuer(key, cert)
        key = new_key(spec.algorithm)
        validity = Validity.days_from(self.now, spec.days)
        subject = build_name(spec.cn, spec.subject)
        cert = issue_root(key, subject, validity) if parent is None else issue_intermediate(key, subject, validity, parent)
        self.store.write_key(f"{name}.key", key)
        self.store.write_cert(f"{name}.crt", cert)
        actions.append(CertAction(name, "issued" if reason == "missing" else "reissued", reason))
        return Issuer(key, cert)

    def _leaf(self, spec: CertSpec, issuer: Issuer, force: bool, actions: list[CertAction]) -> None:
        cert, key = self.store.read_cert(f"{spec.name}.crt"), self.store.read_key(f"{spec.name}.key")
        signer = cert if spec.self_signed else issuer.cert
        reason = self._stale_reason(cert, key, spec.cn, spec.subject, spec.algorithm, signer)
        if reason is None and force:
            reason = "forced"
        if reason is None:
            dns, ips = _sans(cert)
            wanted_ips = {str(ipaddress.ip_address(i)) for i in spec.ip}
            if (dns, ips) != (set(spec.dns), wanted_ips):
                reason = "SANs changed"
            elif _usage(cert) != spec.usage:
                reason = f"usage changed to {spec.usage}"
            elif (cert.issuer == cert.subject) != spec.self_signed:
                reason = "self-signed" if spec.self_signed else "issuer changed"
        if reason is None:
            actions.append(CertAction(spec.name, "reused"))
        else:
            key = new_key(spec.algorithm)
            cert = issue_leaf(
                key, build_name(spec.cn, spec.subject), Validity.days_from(self.now, spec.days), None if spec.self_signed else issuer,
                usage=spec.usage, dns=spec.dns, ips=spec.ip,
            )
            self.store.write_key(f"{spec.name}.key", key)
            self.store.write_cert(f"{spec.name}.crt", cert)
            actions.append(CertAction(spec.name, "issued" if reason == "missing" else "reissued", reason))
        chain = (cert,) if spec.self_signed else (cert, issuer.cert)
        self._write_derived(f"{spec.name}-chain.crt", b"".join(cert_pem(c) for c in chain), self.store.write_cert, *chain)
        bundle = key_pem(key) + b"".join(cert_pem(c) for c in chain)
        if self._differs(f"{spec.name}.pem", bundle):
            self.store.write_bundle(f"{spec.name}.pem", key, *chain)

    def _differs(self, name: str, content: bytes) -> bool:
        return self.store.read(name) != content

    def _write_derived(self, name: str, content: bytes, writer, *certs) -> None:
        if self._differs(name, content):
            writer(name, *certs)

    def ensure(self, force: bool = False) -> list[CertAction]:
        self.store.ensure_dir()
        actions: list[CertAction] = []
        root = self._ca("ca", self.spec.root, None, force, actions)
        # A new root key invalidates the intermediate's signature, so _ca reissues it as "issuer changed".
        inter = self._ca("intermediate", self.spec.intermediate, root, force, actions)
        self._write_derived("ca-chain.crt", cert_pem(inter.cert) + cert_pem(root.cert), self.store.write_cert, inter.cert, root.cert)
        for leaf in self.spec.certificates.values():
            self._leaf(leaf, inter, force, actions)
        return actions
