"""`up`, `verify`, `down`, `status`: ordered steps with timings, one report, one exit status."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from orchestrator.checks.base import CheckResult
from orchestrator.checks.kinds import default_registry
from orchestrator.checks.report import as_dict, summary, table_rows, write_junit
from orchestrator.checks.runner import run_check
from orchestrator.context import LabContext, Overrides
from orchestrator.errors import BadInput, ChecksFailed, LabError, MissingPrerequisite
from orchestrator.lifecycle.state import InstanceState
from orchestrator.pki.manager import PkiManager
from orchestrator.pki.store import PkiStore
from orchestrator.render.artifacts import group_files, render_to
from orchestrator.spec import Lab, Step


@dataclass
class RunOptions:
    runtime: str | None = None
    retain: bool = False
    verify: bool = True
    skip: tuple[str, ...] = ()
    output: str = "text"
    junit: Path | None = None
    pause: bool = False  # workshops: explain each lab step and wait for Enter before running it


@dataclass
class Run:
    """Everything one command works on; passed to every step."""

    ctx: LabContext
    lab: Lab
    state: InstanceState
    runtime: object
    options: RunOptions
    results: list[CheckResult] = field(default_factory=list)


@dataclass(frozen=True)
class PipelineStep:
    name: str
    run: Callable[[Run], None]
    description: str = ""
    lab_step: bool = False


def select_runtime(lab: Lab, requested: str | None, ui) -> str:
    """kind where kind and helm are installed and the lab supports it, else docker; say which and why."""
    from orchestrator.providers.process import which

    if requested:
        if requested not in lab.runtimes:
            raise BadInput(f"lab {lab.name} supports runtimes {', '.join(lab.runtimes)}, not {requested}")
        return requested
    if "kind" in lab.runtimes and which("kind") and which("helm"):
        ui.progress("runtime: kind (kind and helm found; --runtime docker to run without Kubernetes)")
        return "kind"
    if "docker" not in lab.runtimes:
        raise MissingPrerequisite(f"lab {lab.name} needs the kind runtime: kind and helm must be installed",
                                  hint="see https://kind.sigs.k8s.io/docs/user/quick-start/ and https://helm.sh/docs/intro/install/")
    missing = [b for b in ("kind", "helm") if not which(b)]
    reason = f"{' and '.join(missing)} not found" if "kind" in lab.runtimes else "the lab runs on docker only"
    ui.progress(f"runtime: docker ({reason}; Cilium is emulated with Envoy and iptables)")
    return "docker"


def make_runtime(name: str, lab: Lab, state: InstanceState):
    if name == "docker":
        from orchestrator.runtimes.docker import DockerRuntime

        return DockerRuntime(lab, state.rendered, state.data.setdefault("runtime_state", {}))
    from orchestrator.runtimes.kind import KindRuntime

    return KindRuntime(lab, state.rendered, state.data.setdefault("runtime_state", {}), state.directory)


def _timed(run: Run, step: PipelineStep) -> None:
    ui = run.ctx.ui
    start = time.monotonic()
    try:
        with ui.running(step.name):
            step.run(run)
    except LabError as exc:
        ui.step(step.name, "FAIL", time.monotonic() - start, exc.message.splitlines()[0])
        exc.step = step.name
        raise
    ui.step(step.name, "ok", time.monotonic() - start)


def _lab_step(step: Step) -> PipelineStep:
    def apply(run: Run) -> None:
        run.runtime.apply(step.apply, group_files(run.state.rendered, step.apply))

    def wait(run: Run) -> None:
        run.runtime.wait(step.wait)

    def check(run: Run) -> None:
        result = run_check(step, run.runtime, default_registry())
        run.results.append(result)
        if result.status == "failed":
            raise _CheckFailed(result)

    kind = {"apply": apply, "wait": wait, "check": check}[step.kind]
    return PipelineStep(f"{step.kind} {step.name}", kind, step.description, lab_step=True)


class _CheckFailed(LabError):
    def __init__(self, result: CheckResult):
        super().__init__(f"{result.name}: {result.message}")
        self.result = result


def _report(run: Run, logs: Path | None) -> None:
    ui, results = run.ctx.ui, run.results
    logs_text = str(logs) if logs else None
    if run.options.junit:
        write_junit(run.options.junit, f"lab.{run.lab.name}", results, logs_text)
    if run.options.output == "json":
        ui.json(as_dict(run.lab.name, run.lab.instance, run.runtime.name, results, logs_text))
    elif results:
        ui.table(["check", "type", "result", "time", "detail"], table_rows(results), title=f"Checks of {run.lab.name} ({run.runtime.name})")
        counts = summary(results)
        ui.line(f"{counts['passed']} passed, {counts['failed']} failed" + (f", {counts['skipped']} skipped" if counts["skipped"] else ""))
    if logs:
        ui.progress(f"logs collected in {logs}")


def _collect_logs(run: Run) -> Path | None:
    dest = run.state.logs / time.strftime("%Y%m%d-%H%M%S")
    try:
        run.runtime.collect_logs(dest)
    except Exception as exc:  # diagnostics must never hide the real failure
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "collect-error.txt").write_text(str(exc))
    return dest


def prepare(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions, *, fresh: bool) -> Run:
    """Load the lab; for verify/down, reuse the overrides and runtime recorded by `up`."""
    if options.output == "json":
        ctx.ui.machine_output()
    instance = overrides.instance or ctx.catalog.get(name).name  # an instance is named after its lab by default
    state = InstanceState(ctx.state_dir(instance))
    if not fresh and state.exists and not overrides.sets and not overrides.values_files:
        overrides = state.recorded_overrides(instance)
    lab = ctx.load(name, overrides)
    state = InstanceState(ctx.state_dir(lab.instance))
    runtime_name = options.runtime or (state.data.get("runtime") if state.exists else None) or select_runtime(lab, None, ctx.ui)
    if options.runtime:
        select_runtime(lab, options.runtime, ctx.ui)
        recorded = state.data.get("runtime")
        if state.exists and recorded and recorded != options.runtime and state.data.get("phase") != "down":
            raise BadInput(f"instance {lab.instance} exists on the {recorded} runtime; `lab down {name}` first, or use --instance")
    if fresh:
        state.save(lab=lab.name, instance=lab.instance, runtime=runtime_name, phase="starting",
                   sets=list(overrides.sets), values_files=[str(Path(p).resolve()) for p in overrides.values_files])
    return Run(ctx, lab, state, make_runtime(runtime_name, lab, state), options)


def up(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions) -> list[CheckResult]:
    if options.pause and not sys.stdin.isatty():
        raise BadInput("--pause waits for Enter between steps: it needs a terminal")
    run = prepare(ctx, name, overrides, options, fresh=True)
    lab = run.lab
    unknown = set(options.skip) - {s.name for s in lab.steps}
    if unknown:
        raise BadInput(f"--skip {', '.join(sorted(unknown))}: no such step (steps: {', '.join(s.name for s in lab.steps)})")
    pki_dir = ctx.pki_dir(lab)

    def pki(r: Run) -> None:
        PkiManager(lab.pki, PkiStore(pki_dir)).ensure()

    def render(r: Run) -> None:
        render_to(lab, pki_dir, r.state.rendered)

    steps = [PipelineStep("preflight", lambda r: r.runtime.preflight())]
    if lab.pki:
        steps.append(PipelineStep("pki", pki))
    steps += [
        PipelineStep("render", render),
        PipelineStep("cluster", lambda r: r.runtime.create_cluster()),
        PipelineStep("stack", lambda r: r.runtime.stack_up()),
        # Converge: objects of a previous run are replaced, so every stage is replayed and checked again.
        PipelineStep("reset", lambda r: r.runtime.reset_lab_objects()),
    ]
    steps += [_lab_step(s) for s in lab.steps if s.name not in options.skip and (options.verify or s.kind != "check")]
    for skipped in options.skip:
        ctx.ui.step(skipped, "skip", None, "left out with --skip")
    ctx.ui.progress(f"lab up {lab.name} (instance {lab.instance}, runtime {run.runtime.name})")
    _timed(run, steps[0])  # preflight: a missing prerequisite fails fast, before anything exists
    failure: LabError | None = None
    try:
        for step in steps[1:]:
            if options.pause and step.lab_step:
                input(f"\nnext: {step.name}" + (f"\n  {step.description}" if step.description else "") + "\n  [Enter] ")
            try:
                _timed(run, step)
            except _CheckFailed as exc:
                failure = failure or exc  # keep going: the report shows every check
            finally:
                run.state.save()
    except LabError as exc:
        failure = exc
        # The report (JUnit, JSON) must carry the real error, not only the checks that ran before it.
        run.results.append(CheckResult(getattr(exc, "step", "up"), "step", "a lifecycle step", "failed", {}, message=exc.message))
    except KeyboardInterrupt:
        run.state.save(phase="interrupted")
        ctx.ui.error(f"interrupted: what was created stays recorded; `lab down {lab.name}` removes it")
        raise
    logs = _collect_logs(run) if failure else None
    _report(run, logs)
    if failure is None:
        run.state.save(phase="up")
        ctx.ui.progress(run.runtime.access_hint())
        return run.results
    run.state.save(phase="failed")
    if not options.retain:
        ctx.ui.progress("tearing down after the failure (use --retain to keep it for debugging)")
        try:
            _down(run)
        except LabError as exc:  # the original failure matters more; say what is left
            ctx.ui.error(f"warning: teardown failed: {exc.message} (run `lab down {lab.name}` again)")
    if isinstance(failure, _CheckFailed):
        raise _checks_failed(run.results, logs)
    failure.message = f"{failure.message} (logs: {logs})"
    raise failure


def _checks_failed(results: list[CheckResult], logs: Path | None) -> ChecksFailed:
    names = [r.name for r in results if r.status == "failed" and r.type != "step"]
    return ChecksFailed(f"{len(names)} check(s) failed: {', '.join(names)} (logs: {logs})")


def final_checks(lab: Lab) -> list[Step]:
    """The checks of the lab's end state: those after its last apply step (earlier ones test stages that
    the later objects change, e.g. direct HTTPS before the redirect is in place)."""
    last_apply = max((i for i, s in enumerate(lab.steps) if s.kind == "apply"), default=-1)
    return [s for s in lab.steps[last_apply + 1 :] if s.kind == "check"]


def verify(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions) -> list[CheckResult]:
    run = prepare(ctx, name, overrides, options, fresh=False)
    if run.state.data.get("phase") not in ("up", "failed"):  # failed + --retain: still there to check
        raise BadInput(f"lab {run.lab.instance} is not up (state: {run.state.data.get('phase', 'absent')}); run `lab up {name}` first")
    failed = False
    for step in final_checks(run.lab):
        try:
            _timed(run, _lab_step(step))
        except _CheckFailed:
            failed = True
    logs = _collect_logs(run) if failed else None
    _report(run, logs)
    if failed:
        raise _checks_failed(run.results, logs)
    return run.results


def _down(run: Run) -> list[str]:
    removed = run.runtime.down()
    run.state.save(phase="down")
    return removed


def down(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions) -> None:
    run = prepare(ctx, name, overrides, options, fresh=False)
    start = time.monotonic()
    removed = _down(run)
    run.state.remove()
    if run.state.rendered.is_dir():
        shutil.rmtree(run.state.rendered)
    ctx.ui.step(f"down {run.lab.instance}", "ok", time.monotonic() - start, f"removed {len(removed)} object(s)" if removed else "nothing left to remove")


def _recorded_instances(ctx: LabContext) -> list[str]:
    return sorted(p.parent.name for p in ctx.state_root.glob("*/state.json"))


def down_all(ctx: LabContext, options: RunOptions) -> None:
    instances = _recorded_instances(ctx)
    if not instances:
        ctx.ui.line("no lab instances recorded in " + str(ctx.state_root))
    for instance in instances:
        lab_name = InstanceState(ctx.state_dir(instance)).data.get("lab", instance)
        down(ctx, lab_name, Overrides(instance=instance), options)


def status(ctx: LabContext, name: str | None, output: str) -> None:
    instances = [name] if name else _recorded_instances(ctx)
    if not instances and output != "json":
        ctx.ui.line(f"no lab instances recorded in {ctx.state_root}")
        return
    rows, data = [], []
    for instance in instances:
        state = InstanceState(ctx.state_dir(instance))
        if not state.exists:
            rows.append([instance, "-", "not up", ""])
            data.append({"instance": instance, "phase": "absent", "objects": []})
            continue
        lab = ctx.load(state.data["lab"], state.recorded_overrides(instance))
        runtime = make_runtime(state.data["runtime"], lab, state)
        objects = runtime.status()
        data.append({"instance": instance, "lab": lab.name, "runtime": runtime.name, "phase": state.data.get("phase"), "objects": objects})
        summary_text = ", ".join(f"{o['name']} {o['status']}" for o in objects) or "no objects"
        rows.append([instance, runtime.name, state.data.get("phase", "?"), summary_text])
    if output == "json":
        ctx.ui.json(data)
    else:
        ctx.ui.table(["instance", "runtime", "phase", "objects"], rows)
