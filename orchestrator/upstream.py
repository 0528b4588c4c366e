"""Upstream artifacts a lab names by URL and sha256 (a CRD file, a release manifest, a chart).

Resolved from an offline bundle first (LAB_BUNDLE: folders holding the files and a SHA256SUMS listing them,
as a workshop's bundle or this project's ../shared/upstream does), then from the download cache, then by
downloading the URL. The content is always checked against the pinned sha256.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from orchestrator.errors import BadInput, MissingPrerequisite
from orchestrator.files import MAX_INPUT_BYTES, child, read_bounded, write_atomic

MAX_ARTIFACT_BYTES = 64 * 1024 * 1024  # a chart archive, a CRD file, a release manifest: a few MB at most

def cache_dir() -> Path:
    return Path(os.environ.get("LAB_CACHE", Path.home() / ".cache" / "lab")) / "artifacts"


# Bundles found without LAB_BUNDLE, as this project's Makefile finds them: `bundle/` in the checkout (what
# `lab bundle LAB --out bundle` writes there), or `../shared/upstream` beside it (a workshop copies the checkout
# and the bundle side by side).
_CHECKOUT = Path(__file__).resolve().parents[1]
BESIDE_THE_PROJECT = (_CHECKOUT / "bundle", _CHECKOUT.parent / "shared" / "upstream")


def bundles() -> list[Path]:
    """Where artifacts are looked up first: LAB_BUNDLE (os.pathsep separated; `lab --bundle DIR` sets it), else the
    bundles beside the project that are there."""
    given = [Path(p) for p in os.environ.get("LAB_BUNDLE", "").split(os.pathsep) if p]
    if given:
        return given
    return [b for b in BESIDE_THE_PROJECT if (b / "SHA256SUMS").is_file()]


def _listed(bundle: Path, sha256: str) -> Path | None:
    """The file a bundle's SHA256SUMS lists for this digest: a relative path inside the bundle, or refused."""
    sums = bundle / "SHA256SUMS"
    if not (sums.exists() or sums.is_symlink()):
        return None
    text = read_bounded(sums, "bundle listing", MAX_INPUT_BYTES).decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        digest, _, name = line.strip().partition("  ")
        if digest == sha256:
            name = name[2:] if name.startswith("./") else name
            return child(bundle, name.lstrip("*"), f"{sums}: line {number}")
    return None


def fetch(name: str, url: str, sha256: str) -> bytes:
    """The artifact's bytes, verified against its sha256."""
    for bundle in bundles():
        path = _listed(bundle, sha256)
        if path is not None and path.exists():
            return _verified(name, read_bounded(path, "artifact", MAX_ARTIFACT_BYTES), sha256, str(path))
    cached = cache_dir() / sha256
    if cached.is_file():
        return _verified(name, read_bounded(cached, "artifact", MAX_ARTIFACT_BYTES), sha256, str(cached))
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            data = response.read(MAX_ARTIFACT_BYTES + 1)
            if len(data) > MAX_ARTIFACT_BYTES:
                raise BadInput(f"artifact {name} ({url}) is larger than {MAX_ARTIFACT_BYTES} bytes")
    except OSError as exc:
        raise MissingPrerequisite(f"artifact {name} ({url}) is in no offline bundle and cannot be downloaded: {str(exc)[:200]}",
                                  hint="point LAB_BUNDLE (or `lab --bundle DIR`) at a folder holding it with a SHA256SUMS file: "
                                       "a workshop bundle that `lab bundle LAB --out DIR` writes on a connected machine") from None
    data = _verified(name, data, sha256, url)
    write_atomic(cached, data, 0o644)
    return data


def _verified(name: str, data: bytes, sha256: str, where: str) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise MissingPrerequisite(f"artifact {name} from {where} has sha256 {digest}, not the pinned {sha256}")
    return data


def cached_path(name: str, url: str, sha256: str) -> Path:
    """The artifact as a file (for tools that read files, such as helm): its verified copy in the cache."""
    path = cache_dir() / sha256
    if not path.is_file():
        write_atomic(path, fetch(name, url, sha256), 0o644)
    return path
