"""The steps of `lab up`: the tool's own (pki, render, then cluster, stack and reset on the runtime) and the lab's (apply, wait,
check), each an object with a name and `run(run)`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, ClassVar

from orchestrator.checks.runner import run_check
from orchestrator.lifecycle.run import CheckFailed, Run
from orchestrator.pki.store import PkiStore
from orchestrator.render.artifacts import write_rendered
from orchestrator.runtimes.base import Runtime
from orchestrator.spec.model import Step as LabStep


@dataclass
class CommitPki:
    store: PkiStore
    name: str = "pki"
    description: str = "write the lab's certificates and keys (issued or reused) into its PKI folder"
    lab_step: ClassVar[bool] = False

    def run(self, run: Run) -> None:
        self.store.commit()


@dataclass
class WriteRendered:
    name: str = "render"
    description: str = "write every rendered artifact into the instance's folder"
    lab_step: ClassVar[bool] = False

    def run(self, run: Run) -> None:
        write_rendered(run.rendered, run.state.rendered, ours=True)


@dataclass
class RuntimeStep:
    """A step of the tool's own that is one call on the runtime (cluster, stack, reset)."""

    name: str
    description: str
    call: Callable[[Runtime], object]
    lab_step: ClassVar[bool] = False

    def run(self, run: Run) -> None:
        self.call(run.runtime)


def runtime_steps() -> list[RuntimeStep]:
    return [
        RuntimeStep("cluster", "the network, the cluster and its charts", lambda runtime: runtime.provision()),
        RuntimeStep("stack", "the compose stack", lambda runtime: runtime.stack_up()),
        # Converge: objects of a previous run are replaced, so every stage is replayed and checked again.
        RuntimeStep("reset", "remove what a previous run's steps made", lambda runtime: runtime.reset()),
    ]


@dataclass
class _LabStepBase:
    """One of the lab's own steps: named "<verb> <step>", told with the step's description."""

    spec: LabStep
    lab_step: ClassVar[bool] = True
    verb: ClassVar[str] = ""

    @property
    def name(self) -> str:
        return f"{self.verb} {self.spec.name}"

    @property
    def description(self) -> str:
        return self.spec.description


class ApplyStep(_LabStepBase):
    verb = "apply"

    def run(self, run: Run) -> None:
        run.stage_started = time.time()
        docs = run.lab.applied_docs(self.spec.apply, run.rendered.docs(self.spec.apply), run.runtime.name)
        run.runtime.apply(self.spec.apply, docs)


class WaitStep(_LabStepBase):
    verb = "wait"

    def run(self, run: Run) -> None:
        run.runtime.wait(self.spec.wait, run.ctx.waits.get(self.spec.wait.kind))


class CheckStep(_LabStepBase):
    verb = "check"

    def run(self, run: Run) -> None:
        result = run_check(self.spec, run.runtime, run.ctx.checks, progress=run.ctx.ui.progress if run.ctx.ui.plain else None,
                           since=run.stage_started)
        run.results.append(result)
        if result.status == "failed":
            raise CheckFailed(result)


class UserStep(_LabStepBase):
    verb = "user"

    def run(self, run: Run) -> None:
        from orchestrator.kube.users import make_user

        run.stage_started = time.time()
        make_user(run.runtime, self.spec.user, run.lab.owner_labels())


class _EditStep(_LabStepBase):
    """A change to objects the cluster holds (patch, secret, restart): a new stage, as an apply is."""

    def run(self, run: Run) -> None:
        run.stage_started = time.time()
        self.change(run.runtime.kube, PkiStore(run.ctx.pki_dir(run.lab)).read)

    def change(self, kube, pki) -> None: ...


class PatchStep(_EditStep):
    verb = "patch"

    def change(self, kube, pki) -> None:
        from orchestrator import edits

        edits.patch(kube, pki, self.spec.edit)


class SecretStep(_EditStep):
    verb = "update secret of"

    def change(self, kube, pki) -> None:
        from orchestrator import edits

        edits.update_secret(kube, pki, self.spec.edit)


class RestartStep(_EditStep):
    verb = "restart"

    def change(self, kube, pki) -> None:
        from orchestrator import edits

        edits.restart(kube, self.spec.edit)


class UpgradeStep(_LabStepBase):
    """`helm upgrade` of one of the lab's charts with the step's values: a new stage, as an apply is."""

    verb = "upgrade"

    def run(self, run: Run) -> None:
        from orchestrator.render.artifacts import upgrade_values_file

        run.stage_started = time.time()
        run.runtime.upgrade(run.lab.chart(self.spec.edit["release"]), run.state.rendered / upgrade_values_file(self.spec))


def lab_step(spec: LabStep):
    return {"apply": ApplyStep, "wait": WaitStep, "check": CheckStep, "user": UserStep, "patch": PatchStep, "secret": SecretStep,
            "restart": RestartStep, "upgrade": UpgradeStep}[spec.kind](spec)
