"""A participant's commands on a lab that is up: `check` a stage, `solve` the stages up to one, `reset --to` a
stage, and `steps` to see where they are. `verify` is `check` of the last stage."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.checks.base import CheckResult
from orchestrator.context import LabContext, Overrides
from orchestrator.errors import BadInput, PermanentFailure
from orchestrator.lifecycle.report import collect_logs, report, tell_failures
from orchestrator.lifecycle.run import Run, RunOptions, checks_failed, run_steps
from orchestrator.lifecycle.stages import DONE, StageProgress, run_stage
from orchestrator.lifecycle.state import InstanceState, recorded as recorded_state
from orchestrator.lifecycle.steps.plumbing import lab_step
from orchestrator.render.artifacts import read_rendered
from orchestrator.spec.names import instance_name_of


def running(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions, command: str) -> Run:
    """The run of a command on an instance that is up (from whichever home holds it): the lab as `up` was given it
    (or with the overrides given now), its rendered files, its runtime."""
    if options.output == "json":
        ctx.ui.machine_output()
    instance = instance_name_of(name, overrides.instance)
    ctx = ctx.at_home_of(instance)
    state = recorded_state(ctx.state_root, instance)
    if state.data.get("phase") not in ("up", "failed"):  # failed: kept up to look at
        raise BadInput(f"lab {state.name} is not up (state: {state.data.get('phase', 'absent')}); run `lab up {state.data.get('lab', name)}` first")
    given = overrides.sets or overrides.values_files or overrides.images_files
    lab = ctx.load(state.data["lab"], overrides if given else state.recorded_overrides())
    rendered = read_rendered(state.rendered)
    record = state.instance()
    record.lab, record.rendered_files = lab, rendered
    return Run(ctx, lab, state, ctx.runtimes.make(state.data["runtime"], record), rendered, options, command=command)


def _finish(run: Run, failed: bool) -> list[CheckResult]:
    logs = collect_logs(run) if failed else None
    report(run, logs)
    tell_failures(run)
    if failed:
        raise checks_failed(run.results, logs)
    return run.results


def check(ctx: LabContext, name: str, stage_name: str | None, overrides: Overrides, options: RunOptions,
          command: str = "check") -> list[CheckResult]:
    """Run one stage's checks against what is up (default: the stage the participant is on, else the last); it is
    done when they pass."""
    run = running(ctx, name, overrides, options, command)
    progress = StageProgress(run.state, run.lab)
    stage = run.lab.stage(stage_name) if stage_name else (progress.next() or run.lab.stages[-1])
    later = progress.later_done(stage)
    if later and command == "check":
        run.ctx.ui.progress(f"note: {', '.join(s.name for s in later)} came after stage {stage.name} and changed what it checks; "
                            f"`lab reset {run.lab.instance} --to {stage.name}` and do it again to see it pass")
    unwell = run.runtime.health()  # a check against a part that is down cannot pass: say which, at once
    if unwell:
        raise PermanentFailure(f"lab {run.lab.instance} is not well:\n" + "\n".join(f"  {line}" for line in unwell))
    checks = [lab_step(s, run.ctx.steps) for s in stage.checks if s.runs_on(run.runtime.name)]
    if not checks:
        run.ctx.ui.progress(f"stage {stage.name} has no check on the {run.runtime.name} runtime")
    failed = run_stage(run, progress, stage, checks) is not None
    if not failed and command == "check":
        following = progress.next()
        run.ctx.ui.progress(f"stage {stage.name} done" + (f"; next: {following.name} (`lab check {run.lab.instance} {following.name}` "
                                                            f"when you have done it)" if following else "; the lab is complete"))
    return _finish(run, failed)


def verify(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions) -> list[CheckResult]:
    """The checks of the lab's final state: those of its last stage."""
    instance = instance_name_of(name, overrides.instance)
    state = recorded_state(ctx.at_home_of(instance).state_root, instance)
    lab_name = state.data.get("lab", name)
    last = ctx.load(lab_name, state.recorded_overrides()).stages[-1].name if state.data.get("phase") in ("up", "failed") else None
    return check(ctx, name, last, overrides, options, command="verify")


def solve(ctx: LabContext, name: str, stage_name: str | None, overrides: Overrides, options: RunOptions,
          step_name: str | None = None) -> list[CheckResult]:
    """Do the stages from the first one not done up to STAGE (default: the one the participant is on), exactly as
    `up` would, to catch up with the room; or only STEP, one step the participant cannot type on this runtime
    (a chart the docker runtime emulates) while doing the rest of its stage by hand."""
    run = running(ctx, name, overrides, options, "solve")
    if step_name is not None:
        return _solve_step(run, step_name, stage_name)
    progress = StageProgress(run.state, run.lab)
    target = run.lab.stage(stage_name) if stage_name else progress.next()
    if target is None:
        run.ctx.ui.progress("every stage is done; nothing to solve")
        return []
    later = progress.later_done(target)
    if later:
        raise BadInput(f"stage {target.name} comes before {', '.join(s.name for s in later)}, which are done; "
                       f"`lab reset {run.lab.instance} --to {target.name}` first")
    first = progress.next() or target
    stages = run.lab.stages[run.lab.stages.index(first): run.lab.stages.index(target) + 1]
    failed = None
    for stage in stages:
        if progress.status(stage) == DONE:
            continue
        steps = [lab_step(s, run.ctx.steps) for s in stage.steps if s.runs_on(run.runtime.name)]
        failed = run_stage(run, progress, stage, steps) or failed
    return _finish(run, failed is not None)


def _solve_step(run: Run, step_name: str, stage_name: str | None) -> list[CheckResult]:
    """One step, as `up` runs it; the stage's status is its checks' to say (`lab check`)."""
    step = next((s for s in run.lab.steps if s.name == step_name), None)
    if step is None:
        raise BadInput(f"--step {step_name[:80]!r}: lab {run.lab.name} has no such step (`lab steps {run.lab.instance}` lists them)")
    if stage_name is not None and step not in run.lab.stage(stage_name).steps:
        raise BadInput(f"--step {step_name}: not a step of stage {stage_name}")
    if not step.runs_on(run.runtime.name):
        raise BadInput(f"--step {step_name}: runs on {', '.join(step.runtimes)} only, not the {run.runtime.name} runtime")
    return _finish(run, run_steps(run, [lab_step(step, run.ctx.steps)]) is not None)


def reset(ctx: LabContext, name: str, stage_name: str, overrides: Overrides, options: RunOptions) -> list[CheckResult]:
    """Return the lab to the state just before STAGE, its cluster and stack kept: the runtime removes every object
    the lab's steps made (and its network follows), then the stages before STAGE are done again, as `up --until`."""
    from orchestrator.commands.up import up

    instance = instance_name_of(name, overrides.instance)
    home = ctx.at_home_of(instance)
    state = recorded_state(home.state_root, instance)
    if state.data.get("phase") not in ("up", "failed"):
        raise BadInput(f"lab {state.name} is not up (state: {state.data.get('phase', 'absent')}); run `lab up {state.data.get('lab', name)}` first")
    given = overrides.sets or overrides.values_files or overrides.images_files
    recorded = state.recorded_overrides()
    return up(home, state.data["lab"], replace(overrides, instance=instance) if given else recorded,
              replace(options, until=stage_name, runtime=state.data["runtime"]))


def steps(ctx: LabContext, name: str, overrides: Overrides, output: str) -> list[dict]:
    """Each stage of an instance: done, failed, skipped, unchecked or to do, with its steps and checks."""
    if output == "json":
        ctx.ui.machine_output()
    instance = instance_name_of(name, overrides.instance)
    ctx = ctx.at_home_of(instance)
    state = recorded_state(ctx.state_root, instance)
    lab = ctx.load(state.data["lab"], state.recorded_overrides())
    progress = StageProgress(state, lab)
    rows = progress.rows(state.data["runtime"])
    current = progress.next()
    if output == "json":
        ctx.ui.json({"lab": lab.name, "instance": lab.instance, "runtime": state.data["runtime"], "phase": state.data.get("phase"),
                     "next": current.name if current else None, "stages": rows})
        return rows
    ctx.ui.table(["stage", "status", "title", "checks"],
                 [[r["stage"] + (" <" if current and r["stage"] == current.name else ""), r["status"], r["title"], ", ".join(r["checks"])]
                  for r in rows], title=f"Stages of {lab.instance} ({lab.name}, {state.data['runtime']}, {state.data.get('phase')})")
    if current is not None:
        ctx.ui.line(f"next: {current.name}: do it by hand, then `lab check {lab.instance} {current.name}` (behind? `lab solve {lab.instance}`)")
    return rows
