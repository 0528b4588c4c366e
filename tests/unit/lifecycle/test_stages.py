"""Stages as a participant drives them: each run of a stage's steps records done, failed, skipped or unchecked in
the instance's record (which a new process reads back), and its checks count from when the stage began."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from orchestrator.checks.base import CheckResult
from orchestrator.context import LabContext
from orchestrator.errors import LabError, StepFailed
from orchestrator.lifecycle.run import CheckFailed, Run, RunOptions
from orchestrator.lifecycle.stages import DONE, FAILED, SKIPPED, TO_DO, UNCHECKED, StageProgress, run_stage
from orchestrator.lifecycle.state import InstanceState
from tests.helpers import FIXTURE_LABS, copy_lab, edit_spec


class Step:
    """A step of this test: a change to the cluster, or a check that passes or fails (recording its result)."""

    lab_step = True
    description = ""

    def __init__(self, name, check=None, changes=False):
        self.name, self.check = name, check
        self.kind = SimpleNamespace(changes_cluster=changes)
        self.seen_started = None

    def run(self, run):
        self.seen_started = run.stage_started
        if self.check is None:
            return
        run.results.append(CheckResult(self.name, "http", "", "passed" if self.check == "pass" else "failed", {}, message="no"))
        if self.check == "fail":
            raise CheckFailed(run.results[-1])


@pytest.fixture
def run(tmp_path, monkeypatch):
    root = tmp_path / "labs"
    root.mkdir()
    copy_lab("mini", root, FIXTURE_LABS)
    edit_spec(root / "mini", lambda spec: spec["steps"].extend([{"name": "more", "apply": "base"},
                                                                   {"name": "again", "check": dict(spec["steps"][1]["check"])}]))
    monkeypatch.setenv("LAB_PATH", str(root))
    ctx = LabContext(workdir=tmp_path)
    lab = ctx.load("mini")
    state = InstanceState(tmp_path / ".lab" / "mini")
    state.save(lab="mini", instance="mini", runtime="docker", phase="up",
               instance_record={"lab": "mini", "instance": "mini", "labels": lab.owner_labels(), "network": {"name": "n", "subnet": "10.77.0.0/24"}})
    return Run(ctx, lab, state, SimpleNamespace(name="docker"), None, RunOptions())


def test_statuses_are_recorded_and_read_back(run):
    first, second = run.lab.stages
    progress = StageProgress(run.state, run.lab)
    assert progress.status(first) == TO_DO and progress.next() is first
    assert run_stage(run, progress, first, [Step("base", changes=True), Step("reach", "pass")]) is None
    assert progress.status(first) == DONE and progress.next() is second
    failed = run_stage(run, progress, second, [Step("more", changes=True), Step("again", "fail")])
    assert isinstance(failed, CheckFailed) and failed.result.name == "again"
    again = StageProgress(InstanceState(run.state.directory), run.lab)  # as the next command reads it
    assert (again.status(first), again.status(second)) == (DONE, FAILED)
    assert json.loads(run.state.file.read_text())["stages"]["base"]["status"] == "done"
    assert again.later_done(first) == [] and again.next() is second


def test_left_out_unchecked_and_a_raising_step(run):
    first, second = run.lab.stages
    progress = StageProgress(run.state, run.lab)
    run_stage(run, progress, first, [Step("base", changes=True)], left_out=True)
    assert progress.status(first) == SKIPPED
    run_stage(run, progress, first, [Step("base", changes=True)])  # its check was not run (up --no-verify)
    assert progress.status(first) == UNCHECKED and progress.later_done(first) == []

    class Breaks(Step):
        def run(self, run):
            raise LabError("the API server refused it")

    with pytest.raises(StepFailed):
        run_stage(run, progress, second, [Breaks("more")])
    assert progress.status(second) == FAILED
    assert progress.later_done(first) == []
    progress.mark(second, DONE, time.time())
    assert progress.later_done(first) == [second]
    progress.forget_from(first)
    assert (progress.status(first), progress.status(second)) == (TO_DO, TO_DO)
    assert StageProgress(InstanceState(run.state.directory), run.lab).records == {}


def test_each_run_of_a_stage_counts_from_its_own_start(run):
    """A check proves the state now: its flows count from this run's start, never from an earlier run's."""
    first, _ = run.lab.stages
    progress = StageProgress(run.state, run.lab)
    earlier = Step("reach", "pass")
    run_stage(run, progress, first, [earlier])
    before = time.time()
    again = Step("reach", "pass")
    run_stage(run, progress, first, [again])
    assert earlier.seen_started < before <= again.seen_started
    assert progress.records["base"]["started"] == again.seen_started


def test_rows_say_what_each_stage_holds(run):
    progress = StageProgress(run.state, run.lab)
    rows = progress.rows("docker")
    assert [(r["stage"], r["status"], r["steps"], r["checks"]) for r in rows] == [
        ("base", TO_DO, ["base", "reach"], ["reach"]), ("more", TO_DO, ["more", "again"], ["again"])]


def test_a_stage_with_nothing_on_this_runtime_is_done(tmp_path, monkeypatch):
    """A stage of kind's steps only (a pod on the node's network) is nothing to do on docker: never the next one,
    and the lab is complete without it; on kind it is to do."""
    root = tmp_path / "labs"
    root.mkdir()
    copy_lab("two-pods", root, FIXTURE_LABS)
    edit_spec(root / "two-pods", lambda spec: spec["steps"].extend([
        {"name": "kind-only", "apply": "pods", "runtimes": ["kind"]},
        {"name": "kind-check", "check": {**spec["steps"][3]["check"], "runtimes": ["kind"]}}]))
    monkeypatch.setenv("LAB_PATH", str(root))
    lab = LabContext(workdir=tmp_path).load("two-pods")
    first, kind_only = lab.stages
    assert [s.name for s in kind_only.steps] == ["kind-only", "kind-check"]
    for runtime, expected in (("docker", DONE), ("kind", TO_DO)):
        state = InstanceState(tmp_path / ".lab" / runtime)
        state.save(lab="two-pods", instance="two-pods", runtime=runtime, phase="up", stages={first.name: {"status": "done", "started": 1.0, "ended": 2.0}})
        progress = StageProgress(state, lab)
        assert progress.status(kind_only) == expected
        assert progress.next() is (None if runtime == "docker" else kind_only)
