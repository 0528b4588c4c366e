"""A lab's stages as a participant drives them: which are done, failed or still to do (kept in the instance's
record), and running one stage's steps so that its status says what happened.

A stage is done when its checks ran and passed: through `up`, `solve`, or `check` after a participant did it by
hand. Each run of its checks proves the state now: they count flows from that run's start (traffic they make
themselves), never evidence left by an earlier run.
"""

from __future__ import annotations

import time

from orchestrator.lifecycle.run import CheckFailed, Run, run_steps
from orchestrator.lifecycle.state import InstanceState
from orchestrator.spec.model import Lab, Stage

DONE, FAILED, SKIPPED, UNCHECKED, TO_DO = "done", "failed", "skipped", "unchecked", "to do"


class StageProgress:
    """The stages' statuses in an instance's record: {name: {status, started, ended}}."""

    def __init__(self, state: InstanceState, lab: Lab):
        self.state, self.lab = state, lab
        self.runtime = state.data.get("runtime")
        recorded = state.data.get("stages") or {}
        self.records: dict[str, dict] = {s.name: dict(recorded[s.name]) for s in lab.stages if s.name in recorded}

    def status(self, stage: Stage) -> str:
        if self.runtime and not any(step.acts_on(self.runtime) for step in stage.steps):
            return DONE  # nothing of it happens on this runtime (a kind-only stage on docker): nothing to do
        return self.records.get(stage.name, {}).get("status", TO_DO)

    def next(self) -> Stage | None:
        """The first stage not done: where a participant is."""
        return next((s for s in self.lab.stages if self.status(s) != DONE), None)

    def later_done(self, stage: Stage) -> list[Stage]:
        """Stages after this one that are done: its checks test a state they have changed since."""
        after = self.lab.stages[self.lab.stages.index(stage) + 1:]
        return [s for s in after if self.status(s) in (DONE, UNCHECKED)]

    def mark(self, stage: Stage, status: str, started: float) -> None:
        self.records[stage.name] = {"status": status, "started": started, "ended": time.time()}
        self.save()

    def forget_from(self, stage: Stage) -> None:
        """This stage and every later one back to "to do" (a reset)."""
        for later in self.lab.stages[self.lab.stages.index(stage):]:
            self.records.pop(later.name, None)
        self.save()

    def save(self) -> None:
        self.state.save(stages=self.records)

    def rows(self, runtime: str) -> list[dict]:
        return [{"stage": s.name, "status": self.status(s), "title": s.title or (s.steps[0].description.split(". ")[0] if s.steps else ""),
                 "steps": [step.name for step in s.steps if step.acts_on(runtime)],
                 "checks": [step.name for step in s.checks if step.acts_on(runtime)]} for s in self.lab.stages]


def run_stage(run: Run, progress: StageProgress, stage: Stage, steps: list, *, left_out: bool = False) -> CheckFailed | None:
    """Run a stage's steps (as chosen by the caller), then record what became of it: failed (a check failed, or a
    step raised, which propagates), skipped (steps left out with --skip), unchecked (no check ran), else done."""
    started = run.stage_started = time.time()  # its checks count flows from here (each change step moves it on)
    before = len(run.results)
    try:
        failed = run_steps(run, steps)
    except Exception:
        progress.mark(stage, FAILED, started)
        raise
    checked = any(r.type != "step" for r in run.results[before:])
    wanted = [c for c in stage.checks if c.runs_on(run.runtime.name)]
    status = FAILED if failed else SKIPPED if left_out else DONE if checked or not wanted else UNCHECKED
    progress.mark(stage, status, started)
    return failed
