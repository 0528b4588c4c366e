"""One command's run: what it works on, its steps as objects with a name and `run(run)`, and the short
loop that times them. A failed step raises `StepFailed` (which step, and the error that stopped it); a
failed check raises `CheckFailed` and the loop goes on, so the report shows every check."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

from orchestrator.checks.base import CheckResult
from orchestrator.errors import ChecksFailed, LabError, StepFailed

if TYPE_CHECKING:
    from orchestrator.context import LabContext
from orchestrator.lifecycle.state import InstanceState
from orchestrator.render.artifacts import Rendered
from orchestrator.runtimes.base import Runtime
from orchestrator.spec.model import Lab


@dataclass
class RunOptions:
    runtime: str | None = None
    retain: bool = False
    verify: bool = True
    skip: tuple[str, ...] = ()
    output: str = "table"
    junit: Path | None = None
    pause: bool = False  # workshops: explain each lab step and wait for Enter before running it
    until: str | None = None  # stop before this stage, leaving it to the participant
    down_on_failure: bool = False  # CI: tear down after any failure (a person keeps a failed lab up to look at it)
    check_wait: float | None = None  # `check --wait`: each check retries at most this long (None: the lab's timeout)


@dataclass
class Run:
    """Everything one command works on; handed to every step."""

    ctx: LabContext
    lab: Lab
    state: InstanceState
    runtime: Runtime
    rendered: Rendered
    options: RunOptions
    results: list[CheckResult] = field(default_factory=list)
    command: str = "up"  # up | check | solve | reset: what the kept report says it came from
    # When the current stage began (the run's start, then each apply step): a check counts flows from here.
    stage_started: float = field(default_factory=time.time)


class RunStep(Protocol):
    name: str
    description: str
    lab_step: ClassVar[bool]  # one of the lab's own steps (shown by --pause), not the tool's plumbing

    def run(self, run: Run) -> None: ...


class CheckFailed(LabError):
    def __init__(self, result: CheckResult):
        super().__init__(f"{result.name}: {result.message}")
        self.result = result


def timed(run: Run, step: RunStep) -> None:
    ui = run.ctx.ui
    start = time.monotonic()

    def took() -> float | None:  # a step observed beside others says how long its own check took
        return getattr(step, "took", time.monotonic() - start)

    try:
        with ui.running(step.name):
            step.run(run)
    except CheckFailed:
        ui.step(step.name, "FAIL", took(), run.results[-1].message[:200])
        raise
    except StepFailed:
        raise
    except LabError as exc:
        ui.step(step.name, "FAIL", took(), exc.message.splitlines()[0][:200])
        raise StepFailed(step.name, exc) from None
    ui.step(step.name, "ok", took())


def _side_by_side(run: Run, steps: list[RunStep], start: int) -> list[RunStep]:
    """The steps from `start` on that may run at once (checks that only look; the tool's own steps never)."""
    group = []
    for step in steps[start:]:
        if not getattr(step, "side_by_side", None) or not step.side_by_side(run):
            break
        group.append(step)
    return group


@dataclass
class _Observed:
    """A step of a side-by-side run, its outcome known: running it records that outcome as the step's own run
    would have (its result, a failed check, or the error observing raised), so it is told like any other step."""

    step: RunStep
    outcome: CheckResult | BaseException
    lab_step: ClassVar[bool] = True

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def description(self) -> str:
        return self.step.description

    @property
    def took(self) -> float | None:
        return None if isinstance(self.outcome, BaseException) else self.outcome.seconds

    def run(self, run: Run) -> None:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        self.step.record(run, self.outcome)


def observed_at_once(run: Run, group: list[RunStep]) -> list[_Observed]:
    """Checks that only look, observed all at once (a stage's three curls take the time of the slowest), to be told
    and recorded one after another in their places. Daemon threads: Ctrl-C does not wait for them."""
    outcomes: list[list] = [[] for _ in group]

    def observe(step: RunStep, outcome: list) -> None:
        try:
            outcome.append(step.observe(run))
        except BaseException as exc:  # raised when the step's turn comes
            outcome.append(exc)

    threads = [threading.Thread(target=observe, args=(step, outcome), daemon=True) for step, outcome in zip(group, outcomes)]
    with run.ctx.ui.running(", ".join(step.name for step in group)):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return [_Observed(step, outcome) for step, (outcome,) in zip(group, outcomes)]


def run_steps(run: Run, steps: list[RunStep]) -> CheckFailed | None:
    """Run steps in order, a run of checks that only look at once; return the first failed check (the loop goes on
    past it), raise StepFailed."""
    failed: CheckFailed | None = None
    index = 0
    while index < len(steps):
        group = _side_by_side(run, steps, index)
        batch = observed_at_once(run, group) if len(group) > 1 else [steps[index]]
        index += len(batch)
        for step in batch:
            failed = _run_one(run, step) or failed
    return failed


def _run_one(run: Run, step: RunStep) -> CheckFailed | None:
    """One step, timed and told; its failed check returned (the run goes on past it), the record saved."""
    if run.options.pause and step.lab_step:
        prompt = f"\nnext: {step.name}" + (f"\n  {step.description}" if step.description else "") + "\n  [Enter] "
        print(prompt, end="", file=sys.stderr, flush=True)
        sys.stdin.readline()
    try:
        timed(run, step)
    except CheckFailed as exc:
        return exc
    finally:
        run.state.save()
    return None


def checks_failed(results: list[CheckResult], logs: Path | None) -> ChecksFailed:
    names = [r.name for r in results if r.status == "failed" and r.type != "step"]
    return ChecksFailed(f"{len(names)} check(s) failed: {', '.join(names)}" + (f" (logs: {logs})" if logs else ""))
