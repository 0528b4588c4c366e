"""`lab down`: remove everything an instance created, from its record alone; `--all` goes on past a
broken record and reports it."""

from __future__ import annotations

import time

from orchestrator.context import LabContext, Overrides
from orchestrator.errors import BadInput, LabError
from orchestrator.lifecycle.run import RunOptions
from orchestrator.spec.names import instance_name_of
from orchestrator.lifecycle.state import InstanceState, recorded_instances


def down(ctx: LabContext, name: str, overrides: Overrides, options: RunOptions) -> None:
    instance = instance_name_of(name, overrides.instance)
    state = InstanceState(ctx.state_dir(instance))
    start = time.monotonic()
    if not state.exists:
        ctx.ui.step(f"down {instance}", "ok", time.monotonic() - start, "nothing recorded, nothing to remove")
        return
    runtime = ctx.runtimes.make(state.data["runtime"], state.instance())
    removed = state.tear_down(runtime)
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
