"""The one context object handed from the CLI to the core: where things live and how to talk to the user."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.catalog import Catalog, default_lab_roots
from orchestrator.spec import Lab, load_lab
from orchestrator.ui import Ui


@dataclass
class Overrides:
    values_files: tuple[Path, ...] = ()
    sets: tuple[str, ...] = ()
    instance: str | None = None


@dataclass
class LabContext:
    workdir: Path = field(default_factory=Path.cwd)
    catalog: Catalog = field(default_factory=lambda: Catalog(default_lab_roots()))
    ui: Ui = field(default_factory=Ui)
    debug: bool = False

    @property
    def state_root(self) -> Path:
        return self.workdir / ".lab"

    @property
    def certs_root(self) -> Path:
        return self.workdir / "certs"

    def state_dir(self, instance: str) -> Path:
        return self.state_root / instance

    def load(self, name: str, overrides: Overrides | None = None) -> Lab:
        overrides = overrides or Overrides()
        return load_lab(
            self.catalog.get(name),
            values_files=overrides.values_files,
            sets=overrides.sets,
            instance=overrides.instance,
        )

    def pki_dir(self, lab: Lab, out: Path | None = None) -> Path:
        return out if out is not None else self.certs_root / lab.instance
