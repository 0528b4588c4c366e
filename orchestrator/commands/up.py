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
from orchestrator.lifecycle.report import collect_logs, report
from orchestrator.lifecycle.run import CheckFailed, Run, RunOptions, checks_failed, run_steps
from orchestrator.lifecycle.state import InstanceState
from orchestrator.lifecycle.steps.plumbing import CommitPki, WriteRendered, lab_step, runtime_steps
from orchestrator.render.artifacts import Rendered, render_in_memory
from orchestrator.runtimes.base import Instance
from orchestrator.spec.model import Lab


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
    failure = _run(run, _steps(ctx, lab, runtime.name, store, options))
    logs = collect_logs(run) if failure else None
    report(run, logs)
    if failure is None:
        state.save(phase="up")
        ctx.ui.progress(runtime.access_hint())
        return run.results
    state.save(phase="failed")
    if not options.retain:
        ctx.ui.progress("tearing down after the failure (use --retain to keep it for debugging)")
        try:
            state.tear_down(runtime)
        except LabError as exc:  # the original failure matters more; say what is left
            ctx.ui.error(f"warning: teardown failed: {exc.message} (run `lab down {lab.instance}` again)")
    if isinstance(failure, CheckFailed):
        raise checks_failed(run.results, logs)
    failure.message = f"{failure.step}: {failure.message} (logs: {logs})"
    raise failure


def _prepare(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions):
    """Everything in memory first: nothing exists on disk or in Docker until all of it is known to be right."""
    lab = ctx.load(name, overrides)
    unknown = sorted(set(options.skip) - {s.name for s in lab.steps})
    if unknown:
        raise BadInput(f"--skip {', '.join(unknown)}: no such step (steps: {', '.join(s.name for s in lab.steps)})")
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


def _steps(ctx: LabContext, lab: Lab, runtime_name: str, store, options: RunOptions) -> list:
    """The rendered files first (into the instance's own folder), then the PKI (its keys committed once all else that
    could fail on disk has not), the runtime's own steps, then the lab's, as chosen (skipped, elsewhere, no checks)."""
    steps = [WriteRendered(), *([CommitPki(store)] if lab.pki else []), *runtime_steps()]
    steps += [lab_step(s, ctx.steps) for s in lab.steps if s.name not in options.skip and (options.verify or s.check is None) and s.runs_on(runtime_name)]
    for skipped in options.skip:
        ctx.ui.step(skipped, "skip", None, "left out with --skip")
    for elsewhere in (s for s in lab.steps if not s.runs_on(runtime_name) and s.name not in options.skip):
        ctx.ui.step(elsewhere.name, "skip", None, f"runs on {', '.join(elsewhere.runtimes)} only")
    return steps


def _run(run: Run, steps: list) -> LabError | None:
    """The steps in order; the first failure (a failed check, or the step error that stopped the run)."""
    try:
        return run_steps(run, steps)
    except StepFailed as exc:
        # The report (JUnit, JSON) must carry the real error, not only the checks that ran before it.
        run.results.append(CheckResult(exc.step, "step", "a lifecycle step", "failed", {}, message=exc.message))
        return exc
    except KeyboardInterrupt:
        run.state.save(phase="interrupted")
        run.ctx.ui.error(f"interrupted: what was created stays recorded; `lab down {run.lab.instance}` removes it")
        raise
