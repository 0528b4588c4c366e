"""`lab exec`, `lab shell`, `lab logs`: a pod of a lab that is up, by the name its manifests give it, the same on
every runtime (kubectl on kind, the pod's container on the docker runtime)."""

from __future__ import annotations

from orchestrator.commands.stages import running
from orchestrator.context import LabContext, Overrides
from orchestrator.kube.apply import pod_named
from orchestrator.lifecycle.run import RunOptions
from orchestrator.providers import process


def exec_in(ctx: LabContext, name: str, pod: str, argv: list[str], overrides: Overrides, tty: bool) -> int:
    """Run argv in the pod on this terminal; its exit status."""
    run = running(ctx, name, overrides, RunOptions(), "exec")
    namespace, pod_name = pod_named(run.runtime.kube, run.rendered.docs(), pod)
    command = run.runtime.attach_argv(namespace, pod_name, argv, tty)
    run.state.save()  # what the network plugin followed on the way (the docker runtime's emulated Cilium)
    return process.attach(command)


def logs(ctx: LabContext, name: str, pod: str, overrides: Overrides, follow: bool, tail: int | None) -> int:
    run = running(ctx, name, overrides, RunOptions(), "logs")
    namespace, pod_name = pod_named(run.runtime.kube, run.rendered.docs(), pod)
    return process.attach(run.runtime.logs_argv(namespace, pod_name, follow, tail))
