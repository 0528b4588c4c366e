"""Before the test suite: every upstream file the labs pin resolves (a bundle, the download cache, or its URL), or
one message says so with the fix, instead of tests failing one by one. Standard library only: it runs before the
venv exists. Resolves as `lab` does: LAB_BUNDLE, else a bundle beside the checkout, then the cache, then the URL."""

from __future__ import annotations

import os
import re
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def pinned() -> dict[str, str]:
    """sha256 -> URL of every artifact a lab names (read as text: url and sha256 lines of each artifact)."""
    found = {}
    for spec in sorted((REPO / "labs").glob("*/lab.yaml")):
        text = spec.read_text()
        for url, sha in re.findall(r"url: (https://\S+)\s+sha256: ([0-9a-f]{64})", text):
            found[sha] = url
    return found


def bundled() -> set[str]:
    folders = [Path(p) for p in os.environ.get("LAB_BUNDLE", "").split(os.pathsep) if p] or \
        [REPO / "bundle", REPO.parent / "shared" / "upstream"]  # as orchestrator/upstream.py's BESIDE_THE_PROJECT
    digests = set()
    for folder in folders:
        sums = folder / "SHA256SUMS"
        if sums.is_file():
            digests |= {line.split()[0] for line in sums.read_text().splitlines() if line.strip()}
    return digests


def cached() -> set[str]:
    cache = Path(os.environ.get("LAB_CACHE", Path.home() / ".cache" / "lab")) / "artifacts"
    return {p.name for p in cache.iterdir()} if cache.is_dir() else set()


def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5):
            return True
    except Exception:
        return False


def main() -> None:
    missing = {sha: url for sha, url in pinned().items() if sha not in bundled() | cached()}
    if not missing or reachable(next(iter(missing.values()))):
        return
    print(f"error: {len(missing)} upstream file(s) the labs pin are in no offline bundle and cannot be downloaded here "
          f"(first: {next(iter(missing.values()))}).", file=sys.stderr)
    print("fix: point LAB_BUNDLE at a bundle folder (files with a SHA256SUMS listing), e.g. "
          "`LAB_BUNDLE=/path/to/bundle make test`; `lab bundle LAB... --out DIR` writes one on a connected machine.", file=sys.stderr)
    sys.exit(3)


if __name__ == "__main__":
    main()
