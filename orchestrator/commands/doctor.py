"""`lab doctor`: what this machine needs for a lab on a runtime, each problem with its fix. The runtime
says what it needs (`requirements`); `lab up`'s preflight is the blocking part of the same findings."""

from __future__ import annotations

from dataclasses import asdict

from orchestrator.context import LabContext, Overrides
from orchestrator.diagnostics import blocking_problem, graphviz_finding, image_findings
from orchestrator.lifecycle.state import InstanceState
from orchestrator.providers.docker_cli import DockerCli
from orchestrator.render.artifacts import render_in_memory
from orchestrator.runtimes.base import Instance


def doctor(ctx: LabContext, lab_name: str, overrides: Overrides, runtime: str | None, output: str) -> None:
    if output == "json":
        ctx.ui.machine_output()  # stdout carries the JSON alone
    lab = ctx.load(lab_name, overrides)
    name, why = ctx.runtimes.select(lab.runtimes, runtime, lab.name)
    if not runtime:
        ctx.ui.progress(f"runtime: {name} ({why})")
    _store, rendered = render_in_memory(lab, ctx.pki_dir(lab))  # in memory: the doctor writes nothing
    state = InstanceState(ctx.state_dir(lab.instance))
    instance = Instance(lab.name, lab.instance, lab.owner_labels(), lab.network, state.directory, dict(state.runtime_data), lab, rendered)
    findings = ctx.runtimes.make(name, instance).requirements()
    if findings and findings[0].ok:  # the engine answers: which of the lab's images are here already
        findings += image_findings(DockerCli(), dict(ctx.runtimes.images_for(lab, name)))
    findings.append(graphviz_finding())
    if output == "json":
        ctx.ui.json([{**asdict(f), "status": f.status} for f in findings])
    else:
        ctx.ui.table(["check", "status", "detail", "fix"], [[f.check, f.status, f.detail, "" if f.ok else f.fix] for f in findings])
    problem = blocking_problem(name, findings)
    if problem:
        raise problem
