"""PKI files on disk: keys 0600 in a 0700 folder, every file written atomically (temp file + rename)."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from orchestrator.errors import BadInput
from orchestrator.files import ensure_folder, locked, read_bounded, write_atomic
from orchestrator.pki.issue import PrivateKey


NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,127}")  # ca.crt, server-chain.crt, client.pem: plain names only


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
        self.seen: dict[str, bytes | None] = {}  # what a staged store read from disk: unchanged when it commits

    def ensure_dir(self) -> None:
        if self.pending is None:
            ensure_folder(self.directory, "PKI folder", 0o700)

    def path(self, name: str) -> Path:
        """A file of the PKI folder by its plain name (never a path out of it)."""
        if not NAME.fullmatch(name):
            raise BadInput(f"{self.directory}: {name[:80]!r} is not a file name of a lab's PKI")
        return self.directory / name

    def read(self, name: str) -> bytes | None:
        """The file's bytes (staged ones first); None when absent. One that is not a regular file of at most
        1 MiB is the user's to fix, named."""
        if self.pending is not None and name in self.pending:
            return self.pending[name][0]
        path = self.path(name)
        data = read_bounded(path, "PKI file") if path.exists() or path.is_symlink() else None
        if self.pending is not None:
            self.seen.setdefault(name, data)
        return data

    def read_cert(self, name: str) -> x509.Certificate | None:
        """The certificate, or None when absent or unusable (a malformed one, a key type the PKI does not make):
        the manager then reissues it."""
        data = self.read(name)
        try:
            cert = x509.load_pem_x509_certificate(data) if data else None
            if cert is not None:
                cert.public_key(), cert.extensions  # parsed lazily: a bad key or extension shows here, not later
            return cert
        except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
            return None

    def read_key(self, name: str) -> PrivateKey | None:
        data = self.read(name)
        try:
            key = serialization.load_pem_private_key(data, password=None) if data else None
        except (ValueError, TypeError, UnsupportedAlgorithm):
            return None
        return key if isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)) else None

    def _write(self, name: str, data: bytes, mode: int) -> None:
        if self.pending is not None:
            self.pending[name] = (data, mode)
        else:
            write_atomic(self.path(name), data, mode)

    def commit(self) -> list[str]:
        """Write what was staged (keys 0600 in a 0700 folder); returns the names written."""
        if not self.pending:
            return []
        with locked(self.directory, "PKI folder", wait=False):
            changed = [name for name, data in self.seen.items()
                       if (read_bounded(self.path(name), "PKI file") if self.path(name).exists() else None) != data]
            if changed:  # another command issued meanwhile: writing ours over it would mix two PKIs
                raise BadInput(f"{self.directory}: {', '.join(sorted(changed)[:5])} changed while this command ran "
                               "(another `lab` command issued certificates); run it again")
            ensure_folder(self.directory, "PKI folder", 0o700)
            for name, (data, mode) in sorted(self.pending.items()):
                write_atomic(self.path(name), data, mode)
        written, self.pending = sorted(self.pending), {}
        return written

    def export(self, directory: Path) -> list[str]:
        """Every file this staged store read or issued, written into `directory` (a new folder of the tool's own,
        0700, keys 0600): the PKI kept inside a render's --out, swapped in with the rest of it."""
        files = {name: (data, 0o600 if b"PRIVATE KEY" in data else 0o644) for name, data in self.seen.items() if data}
        files.update(self.pending or {})
        ensure_folder(directory, "PKI folder", 0o700)
        for name, (data, mode) in sorted(files.items()):
            write_atomic(directory / self.path(name).name, data, mode)
        return sorted(files)

    def write_key(self, name: str, key: PrivateKey) -> None:
        self._write(name, key_pem(key), 0o600)

    def write_cert(self, name: str, *certs: x509.Certificate) -> None:
        self._write(name, b"".join(cert_pem(c) for c in certs), 0o644)

    def write_bundle(self, name: str, key: PrivateKey, *certs: x509.Certificate) -> None:
        """key + leaf + intermediate in one file, as haproxy's `crt` wants it; holds the key, so 0600."""
        self._write(name, key_pem(key) + b"".join(cert_pem(c) for c in certs), 0o600)
