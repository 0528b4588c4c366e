"""What a step kind is: everything about one kind of a lab's step, in one module.

A kind owns the JSON Schema of its value in lab.yaml, the rules that tie it to the rest of the spec, the typed
value the loader builds, the files it needs rendered, how it runs, how `lab show` tells it and what a
participant types to do it by hand. The loader, the lifecycle, `show` and the guide ask the registry; none of
them knows a kind by name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol

from orchestrator.spec.rules import SpecView

if TYPE_CHECKING:
    from orchestrator.lifecycle.run import Run
    from orchestrator.spec.model import Lab, Step


@dataclass
class ByHand:
    """What a participant types for a step on one runtime, collected by its kind: commands, and the objects it
    makes (with the rendered file each comes from). Paths name the folders `lab env` exports ($LAB_RENDERED...)."""

    lab: "Lab"
    rendered: Any
    checks: Any
    waits: Any
    shell: Callable[[Any], str]  # an argv (or a line written for the shell) as the participant types it
    exec_prefix: Callable[[Any], list[str]]  # how to run a command in the pod a check runs in, on this runtime
    chart_ref: Callable[[Any], Any]  # a chart as a participant installs it
    runtime: str = "kind"
    rendered_dir: str = "$LAB_RENDERED"
    commands: list[str] = field(default_factory=list)
    objects: list[tuple[str, str]] = field(default_factory=list)

    def run(self, argv) -> None:
        self.commands.append(self.shell(argv))

    def rendered_path(self, rel) -> str:
        return f"{self.rendered_dir}/{rel}"

    def note(self, text: str) -> None:
        """A comment line: why this runtime does it another way, what the other one types."""
        self.commands += [f"# {line}" if line else "#" for line in text.splitlines()]


class StepKind(Protocol):
    name: ClassVar[str]  # its key in a step of lab.yaml
    verb: ClassVar[str]  # how a run names it: "<verb> <step>"
    schema: ClassVar[dict]  # JSON Schema of its value
    changes_cluster: ClassVar[bool]  # starts a stage: `verify` reruns the checks after the last such step

    def problems(self, value: Any, spec: SpecView) -> list[tuple[str, str]]:
        """Rules that tie the value to the rest of the spec: (".field" or "", message) pairs."""

    def build(self, value: Any, step_name: str, registries: Any) -> Any:
        """The typed value a run uses (a Wait, a Check, a UserSpec, a group name, an edit)."""

    def files(self, name: str, value: Any) -> dict[str, str]:
        """Files to render for it: path in the rendered folder -> template."""

    def run(self, step: "Step", run: "Run") -> None: ...

    def side_by_side(self, step: "Step", run: "Run") -> bool:
        """Whether it may run at the same time as the steps around it that may too (a check that only looks); a
        kind that may has `observe` (the result, unrecorded) and `record` (as `run` would record it)."""

    def describe(self, step: "Step", lab: "Lab") -> tuple[dict, str]:
        """For `lab show`: the step as data (JSON), and one line of what it does."""

    def by_hand(self, step: "Step", hand: ByHand) -> None:
        """What a participant types to do it (into `hand`)."""


class Plain:
    """Defaults most kinds share: no cross-field rule, the value as is, no file, nothing to type."""

    changes_cluster: ClassVar[bool] = True

    def problems(self, value: Any, spec: SpecView) -> list[tuple[str, str]]:
        return []

    def build(self, value: Any, step_name: str, registries: Any) -> Any:
        return value

    def files(self, name: str, value: Any) -> dict[str, str]:
        return {}

    def by_hand(self, step: "Step", hand: ByHand) -> None:
        return None

    def side_by_side(self, step: "Step", run: "Run") -> bool:
        return False


@dataclass
class KindStep:
    """One of the lab's own steps as the lifecycle runs it: named "<verb> <step>", told with its description; a
    step that changes the cluster starts a new stage (a check counts flows from there)."""

    spec: "Step"
    kind: StepKind
    lab_step: ClassVar[bool] = True

    @property
    def name(self) -> str:
        return f"{self.kind.verb} {self.spec.name}"

    @property
    def description(self) -> str:
        return self.spec.description

    def run(self, run: "Run") -> None:
        if self.kind.changes_cluster:
            run.stage_started = time.time()
        self.kind.run(self.spec, run)

    def side_by_side(self, run: "Run") -> bool:
        return self.kind.side_by_side(self.spec, run)

    def observe(self, run: "Run"):
        """A side-by-side step's result, not yet recorded (its kind's `observe`)."""
        return self.kind.observe(self.spec, run)

    def record(self, run: "Run", result) -> None:
        """That result recorded, in the step's turn, as its own run would have (its kind's `record`)."""
        self.kind.record(self.spec, run, result)
