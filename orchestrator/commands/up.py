"""`lab up`: validate everything in memory first (spec, values, PKI to issue, templates rendered, what the
runtime can run, the machine's prerequisites), and only then create the first file or object."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from orchestrator.checks.base import CheckResult
from orchestrator.context import LabContext, Overrides
from orchestrator.diagnostics import blocking_problem
from orchestrator.errors import BadInput, LabError, SpecErrors, StepFailed
from orchestrator.kube.objects import resolve_pod
from orchestrator.lifecycle.homes import home_of, remember
from orchestrator.lifecycle.report import collect_logs, report, tell_failures
from orchestrator.lifecycle.run import CheckFailed, Run, RunOptions, checks_failed, run_steps
from orchestrator.lifecycle.stages import StageProgress, run_stage
from orchestrator.lifecycle.state import InstanceState
from orchestrator.lifecycle.steps.plumbing import CommitPki, WriteRendered, lab_step, runtime_steps
from orchestrator.render.artifacts import Rendered, render_in_memory
from orchestrator.runtimes.base import Instance
from orchestrator.spec.model import Lab, Stage


def _source_problems(ctx: LabContext, lab: Lab, rendered: Rendered, runtime: str) -> list[str]:
    """Every check's `from:` names a pod of the lab (checks that do not run on this runtime excepted)."""
    docs = rendered.docs()
    problems = []
    for index, step in enumerate(lab.steps):
        check = step.check
        if check is None or (check.runtimes and runtime not in check.runtimes) or not ctx.checks.get(check.type).runs_in_pod:
            continue
        try:
            resolve_pod(check.source, docs, f"{lab.spec_file}: steps.{index}.check")
        except BadInput as exc:
            problems.append(exc.message)
    return problems


def _choose_runtime(ctx: LabContext, lab: Lab, state: InstanceState, requested: str | None) -> str:
    recorded = state.data.get("runtime") if state.exists else None
    if requested and recorded and requested != recorded:
        raise BadInput(f"instance {lab.instance} exists on the {recorded} runtime; `lab down {lab.instance}` first, or use --instance")
    name, why = ctx.runtimes.select(lab.runtimes, requested or recorded, lab.name)
    if not requested and not recorded:
        ctx.ui.progress(f"runtime: {name} ({why})")
    return name


def up(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions) -> list[CheckResult]:
    """Bring the lab up (to the stage before --until), replacing what a previous run of its steps made."""
    if options.pause and not sys.stdin.isatty():
        raise BadInput("--pause waits for Enter between steps: it needs a terminal")
    if options.output == "json":
        ctx.ui.machine_output()
    run, store = _prepare(ctx, name, overrides, options)
    _preflight(run)
    lab, state, runtime = run.lab, run.state, run.runtime
    remember(ctx.workdir)  # so `lab status` and `lab down` find it from anywhere
    state.save(lab=lab.name, instance=lab.instance, runtime=runtime.name, phase="starting", instance_record=runtime.instance.record(),
               sets=list(overrides.sets), values_files=[str(Path(p).resolve()) for p in overrides.values_files],
               images_files=[str(Path(p).resolve()) for p in overrides.images_files])
    plumbing = _plumbing(lab, store)
    failure = _run(run, plumbing, _plan(ctx, lab, runtime.name, options))
    logs = collect_logs(run) if failure else None
    report(run, logs)
    tell_failures(run)
    if failure is None:
        state.save(phase="up")
        ctx.ui.progress(runtime.access_hint())
        if options.until:
            _left_to_participant(run, lab.stage(options.until))
        return run.results
    in_plumbing = isinstance(failure, StepFailed) and failure.step in {p.name for p in plumbing}
    state.save(phase="failed" if isinstance(failure, StepFailed) else "up")
    if options.down_on_failure or (in_plumbing and not options.retain):
        ctx.ui.progress("tearing down after the failure" + ("" if options.down_on_failure else " (use --retain to keep it for debugging)"))
        try:
            state.tear_down(runtime)
        except LabError as exc:  # the original failure matters more; say what is left
            ctx.ui.error(f"warning: teardown failed: {exc.message} (run `lab down {lab.instance}` again)")
    else:
        ctx.ui.progress(stays_up_hint(lab))
    if isinstance(failure, CheckFailed):
        raise checks_failed(run.results, logs)
    failure.message = f"{failure.step}: {failure.message} (logs: {logs})"
    raise failure


def stays_up_hint(lab: Lab) -> str:
    name = lab.instance
    return (f"the lab stays up to look at: `lab steps {name}`, `lab logs {name} POD`, `lab exec {name} POD -- CMD`; "
            f"`lab check {name} STAGE` again after a fix; `lab down {name}` removes it")


def _left_to_participant(run: Run, stage) -> None:
    name = run.lab.instance
    run.ctx.ui.progress(f"ready for stage {stage.name}" + (f" ({stage.title})" if stage.title else "") +
                        f": do it by hand (`lab guide {run.lab.name}`), then `lab check {name} {stage.name}`; "
                        f"behind? `lab solve {name} {stage.name}`")


def _prepare(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions):
    """Everything in memory first: nothing exists on disk or in Docker until all of it is known to be right."""
    lab = ctx.load(name, overrides)
    unknown = sorted(set(options.skip) - {s.name for s in lab.steps})
    if unknown:
        raise BadInput(f"--skip {', '.join(unknown)}: no such step (steps: {', '.join(s.name for s in lab.steps)})")
    if options.until:
        lab.stage(options.until, "--until")
    elsewhere = home_of(ctx.workdir, lab.instance)
    if elsewhere is not None and elsewhere != ctx.workdir.resolve():  # its containers' names are the machine's
        raise BadInput(f"instance {lab.instance} is already up from {elsewhere}; `lab down {lab.instance}` it first, "
                       "or use --instance NAME")
    state = InstanceState(ctx.state_dir(lab.instance))
    runtime_name = _choose_runtime(ctx, lab, state, options.runtime)
    store, rendered = render_in_memory(lab, ctx.pki_dir(lab))
    instance = Instance(lab.name, lab.instance, lab.owner_labels(), lab.network, state.directory, state.runtime_data, lab, rendered)
    runtime = ctx.runtimes.make(runtime_name, instance)
    problems = _source_problems(ctx, lab, rendered, runtime_name) + runtime.validate(rendered.docs())
    if problems:
        raise SpecErrors(problems)
    return Run(ctx, lab, state, runtime, rendered, options), store


def _preflight(run: Run) -> None:
    ctx, runtime = run.ctx, run.runtime
    ctx.ui.progress(f"lab up {run.lab.name} (instance {run.lab.instance}, runtime {runtime.name})")
    start = time.monotonic()
    problem = blocking_problem(runtime.name, runtime.requirements(), run.lab.name)
    if problem:
        ctx.ui.step("preflight", "FAIL", time.monotonic() - start, problem.message.splitlines()[0][:200])
        raise problem
    ctx.ui.step("preflight", "ok", time.monotonic() - start)


def _plumbing(lab: Lab, store) -> list:
    """The tool's own steps: the rendered files (into the instance's own folder), then the PKI (its keys committed
    once all else that could fail on disk has not), then the runtime's (cluster, stack, reset)."""
    return [WriteRendered(), *([CommitPki(store)] if lab.pki else []), *runtime_steps()]


def _plan(ctx: LabContext, lab: Lab, runtime_name: str, options: RunOptions) -> list[tuple[Stage, list, bool]]:
    """Each stage up to --until with its steps as chosen (skipped, elsewhere, no checks), and whether any was left out."""
    stages = lab.stages_before(options.until) if options.until else lab.stages
    plan = []
    for stage in stages:
        chosen = [s for s in stage.steps if s.name not in options.skip and (options.verify or s.check is None) and s.runs_on(runtime_name)]
        plan.append((stage, [lab_step(s, ctx.steps) for s in chosen], any(s.name in options.skip for s in stage.steps)))
    for skipped in options.skip:
        ctx.ui.step(skipped, "skip", None, "left out with --skip")
    for elsewhere in (s for stage in stages for s in stage.steps if not s.runs_on(runtime_name) and s.name not in options.skip):
        ctx.ui.step(elsewhere.name, "skip", None, f"runs on {', '.join(elsewhere.runtimes)} only")
    return plan


def _run(run: Run, plumbing: list, plan: list) -> LabError | None:
    """The tool's steps, then the stages in order (each recorded done, failed or left out); the first failure (a
    failed check, or the step error that stopped the run)."""
    progress = StageProgress(run.state, run.lab)
    try:
        run_steps(run, plumbing)
        progress.forget_from(run.lab.stages[0])  # the runtime's reset removed what earlier runs of the stages made
        failed = None
        for stage, steps, left_out in plan:
            failed = run_stage(run, progress, stage, steps, left_out=left_out) or failed
        return failed
    except StepFailed as exc:
        # The report (JUnit, JSON) must carry the real error, not only the checks that ran before it.
        run.results.append(CheckResult(exc.step, "step", "a lifecycle step", "failed", {}, message=exc.message))
        return exc
    except KeyboardInterrupt:
        run.state.save(phase="interrupted")
        run.ctx.ui.error(f"interrupted: what was created stays recorded; `lab down {run.lab.instance}` removes it")
        raise
