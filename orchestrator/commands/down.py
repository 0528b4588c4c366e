"""`lab down`: remove everything an instance created, from its record alone, whichever home holds it; `--all`
covers every instance on this machine and goes on past a broken record, reporting it."""

from __future__ import annotations

import time
from dataclasses import replace

from orchestrator.context import LabContext, Overrides
from orchestrator.errors import BadInput, LabError
from orchestrator.lifecycle.homes import instances_everywhere
from orchestrator.lifecycle.state import InstanceState
from orchestrator.spec.names import instance_name_of


def down(ctx: LabContext, name: str, overrides: Overrides, output: str = "table") -> dict:
    if output == "json":
        ctx.ui.machine_output()
    instance = instance_name_of(name, overrides.instance)
    outcome = _down(ctx.at_home_of(instance), instance)
    if output == "json":
        ctx.ui.json([outcome])
    return outcome


def _down(ctx: LabContext, instance: str) -> dict:
    state = InstanceState(ctx.state_dir(instance))
    start = time.monotonic()
    outcome = {"instance": instance, "home": str(ctx.workdir), "removed": [], "status": "ok"}
    if not state.exists:
        ctx.ui.step(f"down {instance}", "ok", time.monotonic() - start, "nothing recorded, nothing to remove")
        return outcome
    runtime = ctx.runtimes.make(state.data["runtime"], state.instance())
    outcome["removed"] = removed = state.tear_down(runtime)
    ctx.ui.step(f"down {instance}", "ok", time.monotonic() - start,
                f"removed {len(removed)} object(s)" if removed else "nothing left to remove")
    return outcome


def down_all(ctx: LabContext, output: str = "table") -> list[dict]:
    if output == "json":
        ctx.ui.machine_output()
    pairs, dropped = instances_everywhere(ctx.workdir)
    for line in dropped:
        ctx.ui.error(f"warning: {line}")
    if not pairs:
        ctx.ui.progress(f"no lab instances recorded (in {ctx.state_root} or any other home `lab up` used)")
    failures: list[LabError] = []
    outcomes = []
    for home, instance in pairs:
        try:
            outcomes.append(_down(replace(ctx, workdir=home), instance))
        except LabError as exc:  # one broken instance (or record) must not keep the others up
            failures.append(exc)
            problem = exc.message.splitlines()[0][:300]
            outcomes.append({"instance": instance, "home": str(home), "removed": [], "status": "failed", "problem": problem})
            ctx.ui.step(f"down {instance}", "FAIL", None, problem)
    if output == "json":
        ctx.ui.json(outcomes)
    if failures:
        error = (BadInput if all(isinstance(f, BadInput) for f in failures) else LabError)(
            f"could not remove {len(failures)} of {len(pairs)} instance(s); see the lines above")
        raise error
    return outcomes
