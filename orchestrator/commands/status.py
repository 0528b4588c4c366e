"""`lab status`, `lab kubeconfig` and `lab env`: what is up, from the records."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from orchestrator import shellenv
from orchestrator.context import LabContext
from orchestrator.errors import BadInput, LabError
from orchestrator.providers.kubectl import find_kubectl
from orchestrator.providers.process import which
from orchestrator.spec.names import instance_name, instance_name_of
from orchestrator.lifecycle.homes import instances_everywhere
from orchestrator.lifecycle.state import InstanceState, recorded


def status(ctx: LabContext, name: str | None, output: str) -> None:
    """Every instance on this machine (the current home's first, then every home `lab up` used), or LAB's."""
    if name is not None:  # an instance's name, validated whole (never a path)
        pairs, dropped = [(ctx.at_home_of(instance_name(name, "LAB")).workdir, name)], []
    else:
        pairs, dropped = instances_everywhere(ctx.workdir)
    for line in dropped:
        ctx.ui.error(f"warning: {line}")
    if not pairs and output != "json":
        ctx.ui.line(f"no lab instances recorded (in {ctx.state_root} or any other home `lab up` used)")
        return
    rows, data = [], []
    for home, instance in pairs:
        entry, row = _instance_status(replace(ctx, workdir=home), instance, strict=name is not None)
        data.append({**entry, "home": str(home)})
        rows.append([*row, _shown_home(home, ctx.workdir)])
    if output == "json":
        ctx.ui.json(data)
        return
    ctx.ui.table(["instance", "lab", "runtime", "phase", "health", "objects", "home"], rows)
    for entry in data:  # each part that is down, with the one command that heals it
        for line in entry.get("health", []):
            ctx.ui.line(f"{entry['instance']}: {line}")


def _shown_home(home: Path, current: Path) -> str:
    return "." if home == current.resolve() else str(home)


def _instance_status(ctx: LabContext, instance: str, strict: bool) -> tuple[dict, list[str]]:
    try:
        state = InstanceState(ctx.state_dir(instance, "LAB" if strict else "--instance"))
    except BadInput as exc:
        if strict:
            raise
        problem = exc.message.splitlines()[0]
        return {"instance": instance, "phase": "broken", "problem": problem, "objects": []}, \
            [instance, "-", "-", "broken record", "-", problem[:200]]
    if not state.exists:
        return {"instance": instance, "phase": "absent", "objects": []}, [instance, "-", "-", "not up", "-", ""]
    runtime = ctx.runtimes.make(state.data["runtime"], state.instance())
    try:
        objects = runtime.status()
    except LabError as exc:
        objects = [{"kind": "?", "name": "?", "status": f"unknown: {exc.message.splitlines()[0][:120]}"}]
    health, healthy = _health(runtime)
    summary_text = ", ".join(f"{o['name']} {o['status']}" for o in objects) or "no objects"
    return ({"instance": instance, "lab": state.data.get("lab"), "runtime": state.data.get("runtime"),
             "phase": state.data.get("phase"), "healthy": healthy, "health": health, "objects": objects},
            [instance, state.data.get("lab", "?"), state.data.get("runtime", "?"), state.data.get("phase", "?"),
             "ok" if healthy else ("unknown" if healthy is None else f"{len(health)} part(s) down"), summary_text])


def _health(runtime) -> tuple[list[str], bool | None]:
    """The runtime's health read: one line per part that is not running, naming it and what heals it; None when
    it cannot be read (the Docker engine does not answer), said as the one line."""
    try:
        lines = runtime.health()
    except LabError as exc:
        return [exc.message.splitlines()[0][:200]], None
    return lines, not lines


def kubeconfig(ctx: LabContext, instance: str) -> None:
    """The admin kubeconfig of an instance's cluster (kind's, or the docker runtime's control plane)."""
    ctx = ctx.at_home_of(instance_name_of(instance, None))
    state = recorded(ctx.state_root, instance_name_of(instance, None))
    path = state.directory / "kubeconfig"
    if not path.is_file():
        raise BadInput(f"instance {state.name} has no kubeconfig (phase {state.data.get('phase', '?')}); `lab up` it first")
    ctx.ui.line(str(path))


def shell_env(ctx: LabContext, instance: str) -> None:
    """`export` lines for a shell that works on the instance by hand (`eval "$(lab env LAB)"`): KUBECONFIG and
    the folders the guide's commands name, as the instance's runtime lays them out."""
    import shlex

    name = instance_name_of(instance, None)
    ctx = ctx.at_home_of(name)
    state = recorded(ctx.state_root, name)
    if state.data.get("phase") not in ("up", "failed") or not (state.directory / "kubeconfig").is_file():
        raise BadInput(f"instance {state.name} is not up (phase {state.data.get('phase', '?')}); `lab up` it first")
    exports = {**ctx.runtimes.make(state.data["runtime"], state.instance()).shell_env(), shellenv.PKI: str(ctx.certs_root / state.name)}
    for key, value in exports.items():
        ctx.ui.line(f"export {key}={shlex.quote(value)}")
    kubectl = find_kubectl()
    if kubectl is not None and which("kubectl") is None:
        # The guide's commands type `kubectl`: the one `make images` built, after the shell's own folders (it
        # shadows none of the participant's tools).
        ctx.ui.line(f'export PATH="$PATH":{shlex.quote(str(Path(kubectl).parent))}')
