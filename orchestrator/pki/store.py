"""PKI files on disk: keys 0600 in a 0700 folder, every file written atomically (temp file + rename)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from orchestrator.files import write_atomic
from orchestrator.pki.issue import PrivateKey


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class PkiStore:
    """The files of one lab's PKI: ca.*, intermediate.*, <leaf>.crt/.key, <leaf>-chain.crt, <leaf>.pem.

    A staged store keeps what it would write in memory until `commit()`, so `lab up` can issue, render and
    validate everything before the first file exists.
    """

    def __init__(self, directory: Path, *, staged: bool = False):
        self.directory = directory
        self.pending: dict[str, tuple[bytes, int]] | None = {} if staged else None

    def ensure_dir(self) -> None:
        if self.pending is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)

    def path(self, name: str) -> Path:
        return self.directory / name

    def read(self, name: str) -> bytes | None:
        if self.pending is not None and name in self.pending:
            return self.pending[name][0]
        try:
            return self.path(name).read_bytes()
        except OSError:
            return None

    def read_cert(self, name: str) -> x509.Certificate | None:
        data = self.read(name)
        try:
            return x509.load_pem_x509_certificate(data) if data else None
        except ValueError:
            return None

    def read_key(self, name: str) -> PrivateKey | None:
        data = self.read(name)
        try:
            return serialization.load_pem_private_key(data, password=None) if data else None
        except (ValueError, TypeError):
            return None

    def _write(self, name: str, data: bytes, mode: int) -> None:
        if self.pending is not None:
            self.pending[name] = (data, mode)
        else:
            write_atomic(self.path(name), data, mode)

    def commit(self) -> list[str]:
        """Write what was staged (keys 0600 in a 0700 folder); returns the names written."""
        if not self.pending:
            return []
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        for name, (data, mode) in sorted(self.pending.items()):
            write_atomic(self.path(name), data, mode)
        written, self.pending = sorted(self.pending), {}
        return written

    def write_key(self, name: str, key: PrivateKey) -> None:
        self._write(name, key_pem(key), 0o600)

    def write_cert(self, name: str, *certs: x509.Certificate) -> None:
        self._write(name, b"".join(cert_pem(c) for c in certs), 0o644)

    def write_bundle(self, name: str, key: PrivateKey, *certs: x509.Certificate) -> None:
        """key + leaf + intermediate in one file, as haproxy's `crt` wants it; holds the key, so 0600."""
        self._write(name, key_pem(key) + b"".join(cert_pem(c) for c in certs), 0o600)
