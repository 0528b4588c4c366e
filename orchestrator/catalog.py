"""Finds labs: every `labs/<name>/lab.yaml` under the lab roots, in order (first wins)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import BadInput

PACKAGE_DATA = Path(__file__).resolve().parent / "data"


def default_lab_roots() -> list[Path]:
    """LAB_PATH (os.pathsep separated) first, then the labs shipped with the package."""
    roots = [Path(p) for p in os.environ.get("LAB_PATH", "").split(os.pathsep) if p]
    roots.append(PACKAGE_DATA / "labs")
    return roots


def shared_templates_dir() -> Path:
    return PACKAGE_DATA / "templates"


@dataclass(frozen=True)
class LabEntry:
    name: str
    directory: Path

    @property
    def spec_file(self) -> Path:
        return self.directory / "lab.yaml"


class Catalog:
    def __init__(self, roots: list[Path]):
        self.roots = roots

    def entries(self) -> list[LabEntry]:
        found: dict[str, LabEntry] = {}
        for root in self.roots:
            if not root.is_dir():
                continue
            for spec in sorted(root.glob("*/lab.yaml")):
                found.setdefault(spec.parent.name, LabEntry(spec.parent.name, spec.parent))
        return sorted(found.values(), key=lambda e: e.name)

    def get(self, name_or_path: str) -> LabEntry:
        candidate = Path(name_or_path)
        if candidate.is_dir() and (candidate / "lab.yaml").is_file():
            return LabEntry(candidate.resolve().name, candidate.resolve())
        for entry in self.entries():
            if entry.name == name_or_path:
                return entry
        known = ", ".join(e.name for e in self.entries()) or "none"
        raise BadInput(f"unknown lab '{name_or_path}' (known labs: {known})")
