"""The one context object handed from the CLI to the core: where things live, the registries of runtimes,
check kinds and wait kinds, and how to talk to the user."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.catalog import Catalog, default_lab_roots
from orchestrator.checks.registry import CheckRegistry, default_checks
from orchestrator.lifecycle.steps.registry import StepRegistry, default_steps
from orchestrator.network.registry import NetworkRegistry, default_networks
from orchestrator.runtimes.registry import RuntimeRegistry, default_runtimes
from orchestrator.spec import Lab, load_lab
from orchestrator.spec.values import Overrides

__all__ = ["LabContext", "Overrides"]
from orchestrator.ui import Ui
from orchestrator.kube.waits import WaitRegistry, default_waits


@dataclass
class LabContext:
    workdir: Path = field(default_factory=Path.cwd)
    catalog: Catalog = field(default_factory=lambda: Catalog(default_lab_roots()))
    ui: Ui = field(default_factory=Ui)
    debug: bool = False
    runtimes: RuntimeRegistry = field(default_factory=default_runtimes)
    checks: CheckRegistry = field(default_factory=default_checks)
    waits: WaitRegistry = field(default_factory=default_waits)
    steps: StepRegistry = field(default_factory=default_steps)
    networks: NetworkRegistry = field(default_factory=default_networks)

    @property
    def state_root(self) -> Path:
        return self.workdir / ".lab"

    @property
    def logs_root(self) -> Path:
        """Logs outlive `down` (a CI job reads them after tearing down), so they sit beside the instances."""
        return self.state_root / "logs"

    @property
    def certs_root(self) -> Path:
        return self.workdir / "certs"

    def results_file(self, instance: str) -> Path:
        """The last `up`/`verify` report of an instance; like logs it outlives `down` (`lab guide --results`)."""
        from orchestrator.files import child
        from orchestrator.spec.names import instance_name

        return child(self.state_root / "results", f"{instance_name(instance)}.json", "results file")

    def state_dir(self, instance: str, origin: str = "--instance") -> Path:
        """An instance's folder in .lab/: the name validated whole, the path proven inside .lab/."""
        from orchestrator.lifecycle.state import state_dir

        return state_dir(self.state_root, instance, origin)

    def at_home_of(self, instance: str) -> "LabContext":
        """This context, or one moved to the home holding `instance`'s record when another home has it (found
        through the registry of homes), so `lab down NAME` or `lab kubeconfig NAME` work from anywhere."""
        from dataclasses import replace

        from orchestrator.lifecycle.homes import home_of
        from orchestrator.spec.names import instance_name

        home = home_of(self.workdir, instance_name(instance, "LAB"))
        if home is None or home == self.workdir.resolve():
            return self
        self.ui.progress(f"instance {instance} lives in {home}")
        return replace(self, workdir=home)

    def load(self, name: str, overrides: Overrides | None = None) -> Lab:
        overrides = overrides or Overrides()
        return load_lab(
            self.catalog.get(name),
            values_files=overrides.values_files,
            sets=overrides.sets,
            instance=overrides.instance,
            images_files=overrides.images_files,
            checks=self.checks,
            waits=self.waits,
            steps=self.steps,
            runtimes=self.runtimes,
        )

    def pki_dir(self, lab: Lab, out: Path | None = None) -> Path:
        return out if out is not None else self.certs_root / lab.instance
