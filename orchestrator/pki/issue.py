"""Pure certificate issuance: inputs in, (key, certificate) out. No files, no clocks hidden inside."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_NAME_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
}
# Backdate so that clocks a little behind (a laptop, a VM) still accept fresh certificates.
CLOCK_SKEW = dt.timedelta(minutes=5)


def new_key(algorithm: str) -> PrivateKey:
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm in ("rsa-2048", "rsa-3072"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm.split("-")[1]))
    raise ValueError(f"unsupported key algorithm {algorithm}")


def key_algorithm(key) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"ecdsa-{'p256' if key.curve.name == 'secp256r1' else key.curve.name}"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    return type(key).__name__


def build_name(cn: str, subject: tuple[tuple[str, str], ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(_NAME_OIDS[k], v) for k, v in subject]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


@dataclass(frozen=True)
class Validity:
    not_before: dt.datetime
    not_after: dt.datetime

    @classmethod
    def days_from(cls, now: dt.datetime, days: int) -> "Validity":
        return cls(now - CLOCK_SKEW, now + dt.timedelta(days=days))


@dataclass(frozen=True)
class Issuer:
    key: PrivateKey
    cert: x509.Certificate


def _builder(subject: x509.Name, issuer_name: x509.Name, public_key, validity: Validity) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity.not_before)
        .not_valid_after(validity.not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )


def _sign(builder: x509.CertificateBuilder, signer: PrivateKey) -> x509.Certificate:
    return builder.sign(signer, hashes.SHA256())


def _authority_key_id(issuer: Issuer) -> x509.AuthorityKeyIdentifier:
    ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def issue_root(key: PrivateKey, name: x509.Name, validity: Validity) -> x509.Certificate:
    builder = (
        _builder(name, name, key.public_key(), validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_usage(), critical=True)
    )
    return _sign(builder, key)


def issue_intermediate(key: PrivateKey, name: x509.Name, validity: Validity, issuer: Issuer) -> x509.Certificate:
    builder = (
        _builder(name, issuer.cert.subject, key.public_key(), validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(_authority_key_id(issuer), critical=False)
    )
    return _sign(builder, issuer.key)


def san_list(dns: tuple[str, ...], ips: tuple[str, ...]) -> list[x509.GeneralName]:
    return [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]


def issue_leaf(
    key: PrivateKey,
    name: x509.Name,
    validity: Validity,
    issuer: Issuer | None,
    *,
    usage: str,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
) -> x509.Certificate:
    """A leaf signed by `issuer`, or self-signed when `issuer` is None (a certificate no lab CA vouches for)."""
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    key_usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False,
        key_encipherment=is_rsa,  # RSA key transport; meaningless for ECDSA
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )
    eku = ExtendedKeyUsageOID.SERVER_AUTH if usage == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder(name, issuer.cert.subject if issuer else name, key.public_key(), validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(_authority_key_id(issuer), critical=False)
    sans = san_list(dns, ips)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return _sign(builder, issuer.key if issuer else key)
