"""`up`, `verify`, `down`, `status`.

`up` validates everything in memory first (spec, values, PKI to issue, templates rendered, what the
runtime can run, the machine's prerequisites) and only then creates the first file or object. `down`
and `status` work from the instance's record alone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from orchestrator.checks.base import CheckResult
from orchestrator.checks.report import as_dict, summary, table_rows, write_junit
from orchestrator.context import LabContext, Overrides
from orchestrator.diagnostics import blocking_problem
from orchestrator.errors import BadInput, LabError, SpecErrors, StepFailed
from orchestrator.files import write_atomic
from orchestrator.lifecycle.run import CheckFailed, Run, RunOptions, checks_failed, run_steps, timed
from orchestrator.lifecycle.state import InstanceState, recorded_instances
from orchestrator.lifecycle.steps import CommitPki, WriteRendered, lab_step, runtime_steps
from orchestrator.render.artifacts import Rendered, read_rendered, render_in_memory
from orchestrator.runtimes.base import Instance
from orchestrator.kube.objects import resolve_pod
from orchestrator.spec.model import Lab


def _instance_name(name: str, overrides: Overrides) -> str:
    """An instance is named after its lab unless --instance says otherwise (a lab given as a path: its folder)."""
    from orchestrator.spec.names import instance_name

    if overrides.instance is not None:
        return instance_name(overrides.instance)
    return instance_name(Path(name.rstrip("/")).name if "/" in name else name, "LAB")


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


def _report(run: Run, logs: Path | None) -> None:
    ui, results = run.ctx.ui, run.results
    logs_text = str(logs) if logs else None
    report = {**as_dict(run.lab.name, run.lab.instance, run.runtime.name, results, logs_text), "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": run.command}
    write_atomic(run.ctx.results_file(run.lab.instance), json.dumps(report, indent=2, default=str).encode(), 0o644)
    if run.options.junit:
        write_junit(run.options.junit, f"lab.{run.lab.name}", results, logs_text)
    if run.options.output == "json":
        ui.json(as_dict(run.lab.name, run.lab.instance, run.runtime.name, results, logs_text))
    elif results:
        ui.table(["check", "type", "result", "time", "detail"], table_rows(results, run.ctx.checks),
                 title=f"Checks of {run.lab.name} ({run.runtime.name})")
        counts = summary(results)
        ui.line(f"{counts['passed']} passed, {counts['failed']} failed" + (f", {counts['skipped']} skipped" if counts["skipped"] else ""))
    if logs:
        ui.progress(f"logs collected in {logs}")


def _collect_logs(run: Run) -> Path:
    dest = run.ctx.logs_root / run.lab.instance / time.strftime("%Y%m%d-%H%M%S")
    try:
        run.runtime.collect_logs(dest)
    except Exception as exc:  # diagnostics must never hide the real failure
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "collect-error.txt").write_text(f"{type(exc).__name__}: {exc}")
    return dest


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
    lab = ctx.load(name, overrides)
    unknown = sorted(set(options.skip) - {s.name for s in lab.steps})
    if unknown:
        raise BadInput(f"--skip {', '.join(unknown)}: no such step (steps: {', '.join(s.name for s in lab.steps)})")
    state = InstanceState(ctx.state_dir(lab.instance))
    runtime_name = _choose_runtime(ctx, lab, state, options.runtime)

    # Everything in memory first: nothing exists on disk or in Docker until all of it is known to be right.
    store, rendered = render_in_memory(lab, ctx.pki_dir(lab))
    instance = Instance(lab.name, lab.instance, lab.owner_labels(), lab.network, state.directory, state.runtime_data, lab, rendered)
    runtime = ctx.runtimes.make(runtime_name, instance)
    problems = _source_problems(ctx, lab, rendered, runtime_name) + runtime.validate(rendered.docs())
    if problems:
        raise SpecErrors(problems)
    run = Run(ctx, lab, state, runtime, rendered, options)
    ctx.ui.progress(f"lab up {lab.name} (instance {lab.instance}, runtime {runtime_name})")
    start = time.monotonic()
    problem = blocking_problem(runtime_name, runtime.requirements())
    if problem:
        ctx.ui.step("preflight", "FAIL", time.monotonic() - start, problem.message.splitlines()[0][:200])
        raise problem
    ctx.ui.step("preflight", "ok", time.monotonic() - start)

    state.save(lab=lab.name, instance=lab.instance, runtime=runtime_name, phase="starting", instance_record=instance.record(),
               sets=list(overrides.sets), values_files=[str(Path(p).resolve()) for p in overrides.values_files],
               images_files=[str(Path(p).resolve()) for p in overrides.images_files])
    # The rendered files first (into the instance's own folder), then the PKI: its keys are committed once all else
    # that could fail on disk has not.
    steps = [WriteRendered(), *([CommitPki(store)] if lab.pki else []), *runtime_steps()]
    steps += [lab_step(s) for s in lab.steps if s.name not in options.skip and (options.verify or s.kind != "check") and s.runs_on(runtime_name)]
    for skipped in options.skip:
        ctx.ui.step(skipped, "skip", None, "left out with --skip")
    for elsewhere in (s for s in lab.steps if not s.runs_on(runtime_name) and s.name not in options.skip):
        ctx.ui.step(elsewhere.name, "skip", None, f"runs on {', '.join(elsewhere.runtimes)} only")
    failure: LabError | None = None
    try:
        failure = run_steps(run, steps)
    except StepFailed as exc:
        failure = exc
        # The report (JUnit, JSON) must carry the real error, not only the checks that ran before it.
        run.results.append(CheckResult(exc.step, "step", "a lifecycle step", "failed", {}, message=exc.message))
    except KeyboardInterrupt:
        state.save(phase="interrupted")
        ctx.ui.error(f"interrupted: what was created stays recorded; `lab down {lab.instance}` removes it")
        raise
    logs = _collect_logs(run) if failure else None
    _report(run, logs)
    if failure is None:
        state.save(phase="up")
        ctx.ui.progress(runtime.access_hint())
        return run.results
    state.save(phase="failed")
    if not options.retain:
        ctx.ui.progress("tearing down after the failure (use --retain to keep it for debugging)")
        try:
            _teardown(ctx, state, runtime)
        except LabError as exc:  # the original failure matters more; say what is left
            ctx.ui.error(f"warning: teardown failed: {exc.message} (run `lab down {lab.instance}` again)")
    if isinstance(failure, CheckFailed):
        raise checks_failed(run.results, logs)
    failure.message = f"{failure.step}: {failure.message} (logs: {logs})"
    raise failure


def final_checks(lab: Lab):
    """The checks of the lab's end state: those after its last step that changes the cluster (an apply, a
    patch, a Secret's update, a restart, a user); earlier ones test stages that later steps change, e.g.
    direct HTTPS before the redirect is in place, or a refusal before the repair."""
    last_change = max((i for i, s in enumerate(lab.steps) if s.kind not in ("check", "wait")), default=-1)
    return [s for s in lab.steps[last_change + 1:] if s.kind == "check"]


def _recorded(ctx: LabContext, instance: str) -> InstanceState:
    state = InstanceState(ctx.state_dir(instance))
    if not state.exists:
        known = ", ".join(recorded_instances(ctx.state_root)) or "none"
        raise BadInput(f"no instance {instance} is recorded in {ctx.state_root} (recorded: {known}); `lab up` it first")
    return state


def verify(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions) -> list[CheckResult]:
    if options.output == "json":
        ctx.ui.machine_output()
    state = _recorded(ctx, _instance_name(name, overrides))
    if state.data.get("phase") not in ("up", "failed"):  # failed + --retain: still there to check
        raise BadInput(f"lab {state.name} is not up (state: {state.data.get('phase', 'absent')}); run `lab up {name}` first")
    recorded = state.recorded_overrides()
    lab = ctx.load(state.data["lab"], recorded if not (overrides.sets or overrides.values_files or overrides.images_files) else overrides)
    rendered = read_rendered(state.rendered)
    instance = state.instance()
    instance.lab, instance.rendered_files = lab, rendered
    run = Run(ctx, lab, state, ctx.runtimes.make(state.data["runtime"], instance), rendered, options, command="verify")
    failed = False
    for step in final_checks(lab):
        if not step.runs_on(state.data["runtime"]):
            continue
        try:
            timed(run, lab_step(step))
        except CheckFailed:
            failed = True
    logs = _collect_logs(run) if failed else None
    _report(run, logs)
    if failed:
        raise checks_failed(run.results, logs)
    return run.results


def _teardown(ctx: LabContext, state: InstanceState, runtime) -> list[str]:
    removed = runtime.teardown()
    state.remove()
    return removed


def down(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions) -> None:
    instance = _instance_name(name, overrides)
    state = InstanceState(ctx.state_dir(instance))
    start = time.monotonic()
    if not state.exists:
        ctx.ui.step(f"down {instance}", "ok", time.monotonic() - start, "nothing recorded, nothing to remove")
        return
    runtime = ctx.runtimes.make(state.data["runtime"], state.instance())
    removed = _teardown(ctx, state, runtime)
    ctx.ui.step(f"down {instance}", "ok", time.monotonic() - start,
                f"removed {len(removed)} object(s)" if removed else "nothing left to remove")


def down_all(ctx: LabContext, options: RunOptions) -> None:
    instances = recorded_instances(ctx.state_root)
    if not instances:
        ctx.ui.line("no lab instances recorded in " + str(ctx.state_root))
    failures: list[LabError] = []
    for instance in instances:
        try:
            down(ctx, instance, Overrides(instance=instance), options)
        except LabError as exc:  # one broken instance (or record) must not keep the others up
            failures.append(exc)
            ctx.ui.step(f"down {instance}", "FAIL", None, exc.message.splitlines()[0][:300])
    if failures:
        error = (BadInput if all(isinstance(f, BadInput) for f in failures) else LabError)(
            f"could not remove {len(failures)} of {len(instances)} instance(s); see the lines above")
        raise error


def status(ctx: LabContext, name: str | None, output: str) -> None:
    instances = [name] if name is not None else recorded_instances(ctx.state_root)
    if not instances and output != "json":
        ctx.ui.line(f"no lab instances recorded in {ctx.state_root}")
        return
    rows, data = [], []
    for instance in instances:
        try:
            state = InstanceState(ctx.state_dir(instance, "LAB" if name is not None else "--instance"))
        except BadInput as exc:
            if name is not None:
                raise
            rows.append([instance, "-", "-", "broken record", exc.message.splitlines()[0][:200]])
            data.append({"instance": instance, "phase": "broken", "problem": exc.message.splitlines()[0], "objects": []})
            continue
        if not state.exists:
            rows.append([instance, "-", "-", "not up", ""])
            data.append({"instance": instance, "phase": "absent", "objects": []})
            continue
        try:
            objects = ctx.runtimes.make(state.data["runtime"], state.instance()).status()
        except LabError as exc:
            objects = [{"kind": "?", "name": "?", "status": f"unknown: {exc.message.splitlines()[0][:120]}"}]
        data.append({"instance": instance, "lab": state.data.get("lab"), "runtime": state.data.get("runtime"),
                     "phase": state.data.get("phase"), "objects": objects})
        summary_text = ", ".join(f"{o['name']} {o['status']}" for o in objects) or "no objects"
        rows.append([instance, state.data.get("lab", "?"), state.data.get("runtime", "?"), state.data.get("phase", "?"), summary_text])
    if output == "json":
        ctx.ui.json(data)
    else:
        ctx.ui.table(["instance", "lab", "runtime", "phase", "objects"], rows)


def kubeconfig(ctx: LabContext, instance: str) -> None:
    """The admin kubeconfig of an instance's cluster (kind's, or the docker runtime's control plane)."""
    state = _recorded(ctx, _instance_name(instance, Overrides()))
    path = state.directory / "kubeconfig"
    if not path.is_file():
        raise BadInput(f"instance {state.name} has no kubeconfig (phase {state.data.get('phase', '?')}); `lab up` it first")
    ctx.ui.line(str(path))
