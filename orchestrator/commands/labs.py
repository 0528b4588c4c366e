"""`lab list` and `lab show`: the catalog, and what one lab does."""

from __future__ import annotations

from orchestrator.context import LabContext, Overrides
from orchestrator.errors import LabError
from orchestrator.render.engine import to_yaml
from orchestrator.spec import Lab


def list_labs(ctx: LabContext, output: str) -> None:
    """Each lab's name, title and runtimes, read from its spec as written: nothing is rendered to list them."""
    from orchestrator.spec.load import summary

    labs = []
    problems = []
    for entry in ctx.catalog.entries():
        try:
            labs.append({**summary(entry, ctx.checks, ctx.waits, ctx.steps, ctx.runtimes), "path": str(entry.directory)})
        except LabError as exc:  # a broken lab must not hide the others
            problems.append({"name": entry.name, "error": exc.message.splitlines()[0][:300]})
    if output == "json":
        ctx.ui.json({"labs": labs, "invalid": problems})
        return
    ctx.ui.table(["name", "title", "runtimes"], [[l["name"], l["title"], ", ".join(l["runtimes"])] for l in labs])
    for p in problems:
        ctx.ui.error(f"warning: lab {p['name']} is invalid: {p['error']} (run `lab show {p['name']}`)")


def describe(lab: Lab, kinds) -> tuple[dict, list[str]]:
    """The lab as data (`lab show -o json`), and one line of what each step does (kinds: the step kind registry)."""
    steps, lines = [], []
    for step in lab.steps:
        data, line = kinds.get(step.kind).describe(step, lab)
        item = {"name": step.name, "kind": step.kind, "description": step.description, step.kind: data}
        if step.runtimes:
            item["runtimes"] = list(step.runtimes)
        only = step.runtimes or (step.check.runtimes if step.check else ())
        steps.append(item)
        lines.append(line + (f" (on {', '.join(only)} only)" if only else ""))
    certs = []
    if lab.pki:
        certs.append({"name": "ca", "usage": "root CA", "cn": lab.pki.root.cn, "days": lab.pki.root.days, "key": lab.pki.root.algorithm})
        certs.append({"name": "intermediate", "usage": "intermediate CA (pathlen 0)", "cn": lab.pki.intermediate.cn,
                      "days": lab.pki.intermediate.days, "key": lab.pki.intermediate.algorithm})
        for c in lab.pki.certificates.values():
            certs.append({"name": c.name, "usage": c.usage + (", self-signed" if c.self_signed else ""), "cn": c.cn, "dns": list(c.dns), "ip": list(c.ip),
                          "days": c.days, "key": c.algorithm})
    return {
        "name": lab.name,
        "title": lab.title,
        "instance": lab.instance,
        "description": lab.description,
        "source": lab.source,
        "runtimes": list(lab.runtimes),
        "versions": lab.versions,
        "images": lab.images,
        "imageRoles": {role: list(keys) for role, keys in lab.image_roles.items()},
        "network": {"name": lab.network.name, "subnet": lab.network.subnet},
        "charts": [{"release": c.release, "chart": c.chart, "version": c.version, "namespace": c.namespace, "repo": c.repo,
                    "wait": [{"for": w.kind, **w.params} for w in c.waits]} for c in lab.charts],
        "values": lab.values,
        "certificates": certs,
        "steps": steps,
    }, lines


def show_lab(ctx: LabContext, name: str, overrides: Overrides, output: str) -> None:
    lab = ctx.load(name, overrides)
    data, lines = describe(lab, ctx.steps)
    if output == "json":
        ctx.ui.json(data)
        return
    _show_header(ctx.ui, lab)
    if data["certificates"]:
        ctx.ui.table(["name", "usage", "cn", "sans", "days", "key"],
                     [[c["name"], c["usage"], c["cn"], ", ".join(c.get("dns", []) + c.get("ip", [])), c["days"], c["key"]]
                      for c in data["certificates"]], title="Certificates")
    if lab.charts:
        ctx.ui.table(["release", "chart", "version", "namespace", "ready when"],
                     [[c["release"], c["chart"], c["version"], c["namespace"], ", ".join(f"{w['for']} {w.get('name', '')}".strip() for w in c["wait"])]
                      for c in data["charts"]], title="Charts (kind runtime)")
    ctx.ui.table(["step", "kind", "why", "what"], [[s["name"], s["kind"], s["description"], line] for s, line in zip(data["steps"], lines)],
                 title="Steps")
    for runtime in lab.runtimes:  # what each runtime's network does for this lab, in words
        for line in ctx.networks.get(ctx.runtimes.get(runtime).network).describe(lab, runtime):
            ctx.ui.paragraph(line)


def _show_header(ui, lab: Lab) -> None:
    ui.line(f"{lab.name}: {lab.title}")
    if lab.description:
        ui.line()
        ui.paragraph(lab.description)
    if lab.source:
        ui.line()
        ui.paragraph("Source: " + ", ".join(f"{k} {v}" for k, v in lab.source.items()))
    ui.line()
    ui.line(f"Runtimes: {', '.join(lab.runtimes)}")
    ui.line()
    ui.table(["version", "pinned"], sorted(lab.versions.items()), title="Versions")
    ui.table(["image", "reference (override with --set images.NAME=...)"], sorted(lab.images.items()), title="Images")
    ui.line("Values (override with --set key=value or -f values.yaml):")
    ui.line("  " + to_yaml(lab.values, 2))
