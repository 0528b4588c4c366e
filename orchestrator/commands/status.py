"""`lab status` and `lab kubeconfig`: what is up, from the records."""

from __future__ import annotations

from orchestrator.context import LabContext
from orchestrator.errors import BadInput, LabError
from orchestrator.spec.names import instance_name_of
from orchestrator.lifecycle.state import InstanceState, recorded, recorded_instances


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
    state = recorded(ctx.state_root, instance_name_of(instance, None))
    path = state.directory / "kubeconfig"
    if not path.is_file():
        raise BadInput(f"instance {state.name} has no kubeconfig (phase {state.data.get('phase', '?')}); `lab up` it first")
    ctx.ui.line(str(path))
