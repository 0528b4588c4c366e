"""PKI files on disk: keys 0600 in a 0700 folder, every file written atomically (temp file + rename)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from orchestrator.pki.issue import PrivateKey


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Never leaves a half-written file: write a temp file with the final mode, fsync, rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class PkiStore:
    """The files of one lab's PKI: ca.*, intermediate.*, <leaf>.crt/.key, <leaf>-chain.crt, <leaf>.pem."""

    def __init__(self, directory: Path):
        self.directory = directory

    def ensure_dir(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    def path(self, name: str) -> Path:
        return self.directory / name

    def read_cert(self, name: str) -> x509.Certificate | None:
        try:
            return x509.load_pem_x509_certificate(self.path(name).read_bytes())
        except (OSError, ValueError):
            return None

    def read_key(self, name: str) -> PrivateKey | None:
        try:
            return serialization.load_pem_private_key(self.path(name).read_bytes(), password=None)
        except (OSError, ValueError, TypeError):
            return None

    def write_key(self, name: str, key: PrivateKey) -> None:
        write_atomic(self.path(name), key_pem(key), 0o600)

    def write_cert(self, name: str, *certs: x509.Certificate) -> None:
        write_atomic(self.path(name), b"".join(cert_pem(c) for c in certs), 0o644)

    def write_bundle(self, name: str, key: PrivateKey, *certs: x509.Certificate) -> None:
        """key + leaf + intermediate in one file, as haproxy's `crt` wants it; holds the key, so 0600."""
        write_atomic(self.path(name), key_pem(key) + b"".join(cert_pem(c) for c in certs), 0o600)
