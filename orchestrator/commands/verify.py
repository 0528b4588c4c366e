"""`lab verify`: rerun the checks of the lab's final state against what is up."""

from __future__ import annotations

from orchestrator.checks.base import CheckResult
from orchestrator.context import LabContext, Overrides
from orchestrator.errors import BadInput
from orchestrator.lifecycle.report import collect_logs, report
from orchestrator.lifecycle.run import CheckFailed, Run, RunOptions, checks_failed, timed
from orchestrator.spec.names import instance_name_of
from orchestrator.lifecycle.state import recorded as recorded_state
from orchestrator.lifecycle.steps.plumbing import lab_step
from orchestrator.render.artifacts import read_rendered
from orchestrator.spec.model import Lab


def final_checks(lab: Lab, kinds):
    """The checks of the lab's end state: those after its last step that changes the cluster (an apply, a
    patch, a Secret's update, a restart, a user); earlier ones test stages that later steps change, e.g.
    direct HTTPS before the redirect is in place, or a refusal before the repair."""
    last_change = max((i for i, s in enumerate(lab.steps) if kinds.get(s.kind).changes_cluster), default=-1)
    return [s for s in lab.steps[last_change + 1:] if s.check is not None]


def verify(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions) -> list[CheckResult]:
    if options.output == "json":
        ctx.ui.machine_output()
    ctx = ctx.at_home_of(instance_name_of(name, overrides.instance))
    state = recorded_state(ctx.state_root, instance_name_of(name, overrides.instance))
    if state.data.get("phase") not in ("up", "failed"):  # failed + --retain: still there to check
        raise BadInput(f"lab {state.name} is not up (state: {state.data.get('phase', 'absent')}); run `lab up {name}` first")
    given = state.recorded_overrides()
    lab = ctx.load(state.data["lab"], given if not (overrides.sets or overrides.values_files or overrides.images_files) else overrides)
    rendered = read_rendered(state.rendered)
    instance = state.instance()
    instance.lab, instance.rendered_files = lab, rendered
    run = Run(ctx, lab, state, ctx.runtimes.make(state.data["runtime"], instance), rendered, options, command="verify")
    failed = False
    for step in final_checks(lab, ctx.steps):
        if not step.runs_on(state.data["runtime"]):
            continue
        try:
            timed(run, lab_step(step, ctx.steps))
        except CheckFailed:
            failed = True
    logs = collect_logs(run) if failed else None
    report(run, logs)
    if failed:
        raise checks_failed(run.results, logs)
    return run.results
