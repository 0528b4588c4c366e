"""`lab guide`: the walkthrough of a lab with its topology picture, written from the spec and what it renders
(in memory: nothing of the lab is issued or written but the guide), optionally with the last results."""

from __future__ import annotations

import re
from pathlib import Path

from markupsafe import Markup, escape

from orchestrator.checks.report import read_report
from orchestrator.context import LabContext, Overrides
from orchestrator.errors import BadInput
from orchestrator.files import write_atomic
from orchestrator.guide import topology as topo
from orchestrator.guide.walkthrough import TEXT, language_of, walkthrough
from orchestrator.providers import process
from orchestrator.render.artifacts import render_in_memory
from orchestrator.render.engine import make_environment, render_template

FORMATS = ("html", "md")


def code_spans(text: str) -> Markup:
    """Escaped text with its `backtick spans` as <code> (the walkthrough's prose is written for Markdown too)."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def draw_svg(dot: str) -> str | None:
    """The picture, by Graphviz; None when `dot` is not installed (the guide then carries the DOT source)."""
    if process.which("dot") is None:
        return None
    svg = process.run(["dot", "-Tsvg"], input=dot, timeout=60).stdout
    return svg[svg.index("<svg"):]  # inline in HTML: without the XML prolog and doctype


def _default_runtime(ctx: LabContext, lab) -> str:
    """The runtime `lab up` would choose here (the lab's first when this machine can run none)."""
    from orchestrator.errors import MissingPrerequisite

    try:
        return ctx.runtimes.select(lab.runtimes, None, lab.name)[0]
    except MissingPrerequisite:
        return lab.runtimes[0]


def up_argv(lab, name: str, overrides: Overrides, runtime: str) -> list[str]:
    """`lab up` as the guide was asked for (its runtime, values, images and instance), to just before the first stage."""
    argv = ["lab", "up", name, "--runtime", runtime]
    argv += [arg for path in overrides.values_files for arg in ("-f", str(path))]
    argv += [arg for given in overrides.sets for arg in ("--set", given)]
    argv += [arg for path in overrides.images_files for arg in ("--images", str(path))]
    argv += ["--instance", overrides.instance] if overrides.instance else []
    return argv + ["--until", lab.stages[0].name]


def guide(ctx: LabContext, name: str, overrides: Overrides, out: Path | None, formats: tuple[str, ...], results: bool,
          runtime: str | None, output: str = "table") -> list[Path]:
    if output == "json":
        ctx.ui.machine_output()
    lab = ctx.load(name, overrides)
    if runtime:
        ctx.runtimes.get(runtime)
        if runtime not in lab.runtimes:
            raise BadInput(f"--runtime {runtime}: lab {lab.name} runs on {', '.join(lab.runtimes)}")
    report = None
    if results:
        path = ctx.results_file(lab.instance)
        if not (path.exists() or path.is_symlink()):
            raise BadInput(f"--results: instance {lab.instance} has no results yet (no {path}); run `lab up {name}` or `lab verify {name}` first")
        report = read_report(path)
    _store, rendered = render_in_memory(lab, ctx.pki_dir(lab))  # the rendered objects; no key is written
    graph = topo.build(lab, rendered, ctx.checks)
    dot, mermaid = topo.to_dot(graph), topo.to_mermaid(graph)
    svg = draw_svg(dot)
    lang = language_of(lab)
    shown_runtime = report["runtime"] if report else runtime
    hand_runtime = shown_runtime or _default_runtime(ctx, lab)
    context = {
        "lab": lab, "lang": lang, "t": TEXT[lang], "runtime": hand_runtime, "report": report,
        "prerequisites": [f"{entry.name}: {', '.join(entry.prerequisites)} — `lab doctor {lab.name} --runtime {entry.name}`"
                          for entry in (ctx.runtimes.get(n) for n in lab.runtimes) if entry.name == hand_runtime],
        "steps": walkthrough(lab, rendered, ctx.checks, ctx.waits, ctx.steps, hand_runtime, up_argv(lab, name, overrides, hand_runtime), report, lang),
        "dot": dot, "svg": svg, "mermaid": mermaid,
    }
    out = out or ctx.workdir / "guide" / lab.instance
    env = make_environment([Path(__file__).resolve().parent.parent / "guide" / "templates"],
                           autoescape=lambda template: (template or "").endswith(".html.j2"))
    env.filters["code"] = code_spans
    written = [out / "topology.dot"]
    write_atomic(out / "topology.dot", dot.encode(), 0o644)
    if svg:
        write_atomic(out / "topology.svg", svg.encode(), 0o644)
        written.append(out / "topology.svg")
    for fmt in formats:
        text = render_template(env, f"guide.{fmt}.j2", context)
        write_atomic(out / f"guide.{fmt}", text.encode(), 0o644)
        written.append(out / f"guide.{fmt}")
    if output == "json":
        ctx.ui.json({"lab": lab.name, "instance": lab.instance, "out": str(out), "files": [str(p) for p in written],
                     "verified": report is not None})
    else:
        for path in written:
            ctx.ui.line(f"  {path}")
    if svg is None:
        ctx.ui.progress(f"graphviz (dot) not found: the guide carries the DOT source; draw it with "
                        f"`dot -Tsvg {out / 'topology.dot'} -o {out / 'topology.svg'}` (apt install graphviz)")
    return written
