"""The loop that runs a command's steps: checks that only look run at once, each reported and recorded in its place
as if they had run one after another; anything else runs alone, in order."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from orchestrator.checks.base import CheckResult
from orchestrator.context import LabContext
from orchestrator.errors import LabError, StepFailed
from orchestrator.lifecycle.run import CheckFailed, Run, RunOptions, run_steps
from orchestrator.lifecycle.state import InstanceState
from orchestrator.lifecycle.steps.plumbing import lab_step
from tests.helpers import mini_lab_on_path


class Ui:
    plain = True

    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def running(self, name):
        import contextlib

        return contextlib.nullcontext()

    def step(self, name, status, seconds=None, detail=""):
        self.lines.append((name, status))

    def progress(self, text):
        pass


class Look:
    """A check that only looks: it may run beside its neighbours; `together` makes it wait for them."""

    lab_step = True
    description = ""

    def __init__(self, name, outcome="passed", together: threading.Barrier | None = None, log: list | None = None):
        self.name, self.outcome, self.together, self.log = name, outcome, together, log if log is not None else []

    def side_by_side(self, run) -> bool:
        return True

    def observe(self, run) -> CheckResult:
        self.log.append(("start", self.name))
        if self.together is not None:
            self.together.wait()  # breaks (BrokenBarrierError) unless its partners run at the same time
        time.sleep(0.05)
        self.log.append(("end", self.name))
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return CheckResult(self.name, "http", "", self.outcome, {}, message="" if self.outcome == "passed" else "status 500")

    def run(self, run) -> None:  # how the loop runs it when it is alone
        self.record(run, self.observe(run))

    def record(self, run, result) -> None:
        run.results.append(result)
        if result.status == "failed":
            raise CheckFailed(result)


class Change(Look):
    """A step that changes something: always alone."""

    def side_by_side(self, run) -> bool:
        return False

    def run(self, run) -> None:
        self.log.append(("start", self.name))
        self.log.append(("end", self.name))


@pytest.fixture
def run(tmp_path, monkeypatch):
    mini_lab_on_path(tmp_path, monkeypatch)
    ctx = LabContext(workdir=tmp_path, ui=Ui())
    lab = ctx.load("mini")
    state = InstanceState(tmp_path / ".lab" / "mini")
    return Run(ctx, lab, state, SimpleNamespace(name="docker"), None, RunOptions())


def test_checks_that_only_look_run_at_once_and_are_reported_in_order(run):
    together = threading.Barrier(3, timeout=5)  # run one after another, the first would wait alone and break it
    steps = [Look("a", together=together), Look("b", together=together), Look("c", together=together)]
    assert run_steps(run, steps) is None
    assert [r.name for r in run.results] == ["a", "b", "c"]
    assert run.ctx.ui.lines == [("a", "ok"), ("b", "ok"), ("c", "ok")]


def test_a_step_that_changes_something_runs_alone_between_groups(run):
    log: list = []
    pair = threading.Barrier(2, timeout=5)
    steps = [Look("a", together=pair, log=log), Look("b", together=pair, log=log), Change("apply", log=log),
             Look("c", log=log)]
    run_steps(run, steps)
    order = [entry for entry in log if entry[1] in ("apply", "c")]
    assert order == [("start", "apply"), ("end", "apply"), ("start", "c"), ("end", "c")]
    assert log.index(("start", "apply")) > max(log.index(("end", "a")), log.index(("end", "b")))


def test_a_failed_check_is_reported_in_its_place_and_the_others_still_count(run):
    together = threading.Barrier(3, timeout=5)
    failed = run_steps(run, [Look("a", together=together), Look("b", "failed", together=together), Look("c", together=together)])
    assert isinstance(failed, CheckFailed) and failed.result.name == "b"
    assert [(r.name, r.status) for r in run.results] == [("a", "passed"), ("b", "failed"), ("c", "passed")]
    assert run.ctx.ui.lines == [("a", "ok"), ("b", "FAIL"), ("c", "ok")]


def test_an_error_in_a_group_stops_the_run_at_that_check(run):
    together = threading.Barrier(2, timeout=5)
    with pytest.raises(StepFailed) as raised:
        run_steps(run, [Look("a", together=together), Look("b", LabError("the engine stopped"), together=together), Look("c")])
    assert raised.value.step == "b"
    assert [r.name for r in run.results] == ["a"]  # c never ran: the run stops where the error is
    assert run.ctx.ui.lines == [("a", "ok"), ("b", "FAIL")]


def test_a_check_of_the_lab_goes_side_by_side_unless_the_run_pauses(run):
    check = next(s for s in run.lab.steps if s.check is not None)
    step = lab_step(check, run.ctx.steps)
    assert step.side_by_side(run) is True  # an http GET
    run.options.pause = True  # a participant steps through one at a time
    assert step.side_by_side(run) is False
    apply = next(s for s in run.lab.steps if s.kind == "apply")
    assert lab_step(apply, run.ctx.steps).side_by_side(run) is False
