"""The tool's own steps of `lab up` (render, pki, then cluster, stack and reset on the runtime), each an object with
a name and `run(run)`, and the wrapper that runs one of the lab's steps by its kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

from orchestrator.lifecycle.run import Run
from orchestrator.lifecycle.steps.base import KindStep
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


def lab_step(spec: LabStep, kinds) -> KindStep:
    """One of the lab's steps, run as its kind says (kinds: the step kind registry)."""
    return KindStep(spec, kinds.get(spec.kind))
