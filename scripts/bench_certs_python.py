"""The floor of `lab certs issue inject-mtls --force` in `make bench`: the same five certificates as
scripts/bench_certs_openssl.sh, issued by a bare Python script with the library `lab` uses (cryptography), the
lab's subject read from its YAML. No CLI, no validation, no templating: what any Python command doing this work
pays at least, to set beside the openssl CLI.
Usage: bench_certs_python.py OUT_DIR (prints nothing on success)"""

import datetime as dt
import ipaddress
import os
import sys
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LAB = Path(__file__).resolve().parent.parent / "labs/inject-mtls/lab.yaml"
FIELDS = {"C": NameOID.COUNTRY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME, "O": NameOID.ORGANIZATION_NAME}
NOW = dt.datetime.now(dt.timezone.utc)
SERVER = "haproxy.mtls-inject.lab"


def name(subject: dict, cn: str) -> x509.Name:
    return x509.Name([*(x509.NameAttribute(FIELDS[k], v) for k, v in subject.items()), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(subject, key, issuer, signer, days, ca=False, usage=None, sans=()):
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer != subject else None), critical=True)
               .add_extension(x509.KeyUsage(not ca, False, False, False, False, ca, ca, False, False), critical=True))
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(signer, hashes.SHA256())


def save(out: Path, stem: str, key, cert, chain=b"") -> None:
    fd = os.open(out / f"{stem}.key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (out / f"{stem}.crt").write_bytes(pem)
    if chain:
        (out / f"{stem}-chain.crt").write_bytes(pem + chain)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    subject = yaml.safe_load(LAB.read_text())["pki"]["subject"]
    keys = {stem: ec.generate_private_key(ec.SECP256R1()) for stem in ("root", "intermediate", "server", "client", "impostor")}
    root = issue(name(subject, "Lab Root CA"), keys["root"], name(subject, "Lab Root CA"), keys["root"], 3650, ca=True)
    inter = issue(name(subject, "Lab Intermediate CA"), keys["intermediate"], root.subject, keys["root"], 1825, ca=True)
    chain = inter.public_bytes(serialization.Encoding.PEM)
    addresses = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("172.18.255.249", "127.0.0.1")]
    server = issue(name(subject, SERVER), keys["server"], inter.subject, keys["intermediate"], 365, usage=ExtendedKeyUsageOID.SERVER_AUTH,
                   sans=[*(x509.DNSName(d) for d in (SERVER, "haproxy", "localhost")), *addresses])
    client = issue(name(subject, "mtls-inject-client"), keys["client"], inter.subject, keys["intermediate"], 365,
                   usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    impostor = issue(name(subject, SERVER), keys["impostor"], name(subject, SERVER), keys["impostor"], 365,
                     sans=[x509.DNSName(SERVER), addresses[0]])
    for stem, cert, tail in (("root", root, b""), ("intermediate", inter, b""), ("server", server, chain), ("client", client, chain),
                             ("impostor", impostor, b"")):
        save(out, stem, keys[stem], cert, tail)
    (out / "ca.crt").write_bytes(root.public_bytes(serialization.Encoding.PEM))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
