"""Reading certificates back: human summaries (`lab certs show`) and chain verification (`lab certs verify`)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification

from orchestrator.errors import BadInput
from orchestrator.files import read_bounded
from orchestrator.pki.issue import key_algorithm
from orchestrator.pki.store import PkiStore
from orchestrator.spec.model import PkiSpec


# What cryptography raises for a certificate that parses but whose key or extensions it cannot read.
UNREADABLE = (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)


def load_pem_cert(data: bytes) -> x509.Certificate:
    """A certificate made elsewhere (a cluster's, a controller's): loaded even when it bends RFC 5280 in ways
    cryptography only warns about (cert-controller's CA has a serial number that is not positive)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_pem_x509_certificate(data)


def load_certs(path: Path) -> list[x509.Certificate]:
    data = read_bounded(path, "certificate file")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        try:
            return [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise BadInput(f"{path}: no PEM or DER certificate found") from None


def summarize_file(path: Path, cert: x509.Certificate, index: int) -> dict:
    """summarize(), with a certificate that parses but whose key or extensions do not named as the user's file."""
    try:
        return summarize(cert)
    except UNREADABLE as exc:
        where = f"{path}" + (f" (certificate {index})" if index else "")
        raise BadInput(f"{where}: not a certificate that can be read: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from None


def _ext(cert: x509.Certificate, cls):
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def _key_usage_names(ku: x509.KeyUsage) -> list[str]:
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign"]
    out = [n for n in names if getattr(ku, n)]
    if ku.key_agreement:
        out += [n for n in ("encipher_only", "decipher_only") if getattr(ku, n)]
    return out


def summarize(cert: x509.Certificate, now: dt.datetime | None = None) -> dict:
    now = now or dt.datetime.now(dt.timezone.utc)
    bc = _ext(cert, x509.BasicConstraints)
    ku = _ext(cert, x509.KeyUsage)
    eku = _ext(cert, x509.ExtendedKeyUsage)
    san = _ext(cert, x509.SubjectAlternativeName)
    summary = {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "days_left": (cert.not_valid_after_utc - now).days,
        "key": key_algorithm(cert.public_key()),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(":"),
        "dns_names": list(san.value.get_values_for_type(x509.DNSName)) if san else [],
        "ip_addresses": [str(i) for i in san.value.get_values_for_type(x509.IPAddress)] if san else [],
        "key_usage": _key_usage_names(ku.value) if ku else [],
        "key_usage_critical": bool(ku and ku.critical),
        "extended_key_usage": [o._name for o in eku.value] if eku else [],
        "ca": bool(bc and bc.value.ca),
        "path_length": bc.value.path_length if bc else None,
    }
    return summary


@dataclass(frozen=True)
class ChainResult:
    name: str
    kind: str  # root | intermediate | server | client
    subject_cn: str
    not_after: dt.datetime
    days_left: int
    ok: bool
    detail: str


def _cn(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _leaf_subject(cert: x509.Certificate):
    san = _ext(cert, x509.SubjectAlternativeName)
    if san:
        dns = san.value.get_values_for_type(x509.DNSName)
        if dns:
            return x509.DNSName(dns[0])
        ips = san.value.get_values_for_type(x509.IPAddress)
        if ips:
            return x509.IPAddress(ipaddress.ip_address(ips[0]))
    return None


def verify_pki(spec: PkiSpec, store: PkiStore, now: dt.datetime | None = None) -> list[ChainResult]:
    """Verify every certificate of the lab up to the root with RFC 5280 path validation."""
    now = now or dt.datetime.now(dt.timezone.utc)
    results: list[ChainResult] = []
    root = store.read_cert("ca.crt")
    inter = store.read_cert("intermediate.crt")

    def add(name: str, kind: str, cert: x509.Certificate | None, ok: bool, detail: str) -> None:
        if cert is None:
            results.append(ChainResult(name, kind, "", now, 0, False, "missing"))
            return
        days = (cert.not_valid_after_utc - now).days
        if cert.not_valid_after_utc <= now:
            ok, detail = False, "expired"
        results.append(ChainResult(name, kind, _cn(cert), cert.not_valid_after_utc, days, ok, detail))

    add("ca", "root", root, root is not None and _signed_self(root), "self-signed CA")
    if root is None:
        return results
    store_ = verification.Store([root])
    inter_ok = inter is not None and _signed_self(inter, root)
    add("intermediate", "intermediate", inter, inter_ok, "signed by root" if inter_ok else "not signed by ca.crt")
    for name, leaf_spec in spec.certificates.items():
        leaf = store.read_cert(f"{name}.crt")
        if leaf is None or inter is None:
            add(name, leaf_spec.usage, leaf, False, "missing")
            continue
        if leaf_spec.self_signed:  # meant not to chain to the lab's CA: verified against itself
            signed = _signed_self(leaf)
            add(name, leaf_spec.usage, leaf, signed, "self-signed (outside the lab CA)" if signed else "not self-signed")
            continue
        try:
            builder = verification.PolicyBuilder().store(store_).time(now)
            if leaf_spec.usage == "server":
                subject = _leaf_subject(leaf)
                if subject is None:
                    raise verification.VerificationError("no SAN to verify against")
                builder.build_server_verifier(subject).verify(leaf, [inter])
            else:
                # WebPKI wants a SAN on every leaf; mTLS client certificates commonly carry only a CN.
                ee_policy = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
                    x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
                )
                builder = builder.extension_policies(
                    ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy
                )
                builder.build_client_verifier().verify(leaf, [inter])
            add(name, leaf_spec.usage, leaf, True, "chain verified")
        except (verification.VerificationError, *UNREADABLE) as exc:
            add(name, leaf_spec.usage, leaf, False, f"verification failed: {str(exc)[:200]}")
    return results


def _signed_self(cert: x509.Certificate, issuer: x509.Certificate | None = None) -> bool:
    try:
        cert.verify_directly_issued_by(issuer or cert)
        return True
    except Exception:
        return False
