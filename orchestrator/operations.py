"""Core operations behind the simple commands (list, show, certs, render). The CLI only parses and calls."""

from __future__ import annotations

from pathlib import Path

from orchestrator.context import LabContext, Overrides
from orchestrator.errors import BadInput, ChecksFailed
from orchestrator.pki.inspect import load_certs, summarize, verify_pki
from orchestrator.pki.manager import CertAction, PkiManager
from orchestrator.pki.store import PkiStore
from orchestrator.render.artifacts import Rendered, render_to
from orchestrator.render.engine import to_yaml
from orchestrator.spec import Lab


def list_labs(ctx: LabContext, output: str) -> None:
    labs = []
    problems = []
    for entry in ctx.catalog.entries():
        try:
            lab = ctx.load(entry.name)
            labs.append({"name": lab.name, "title": lab.title, "runtimes": list(lab.runtimes), "path": str(entry.directory)})
        except Exception as exc:  # a broken lab must not hide the others
            problems.append({"name": entry.name, "error": str(exc).splitlines()[0]})
    if output == "json":
        ctx.ui.json({"labs": labs, "invalid": problems})
        return
    ctx.ui.table(["name", "title", "runtimes"], [[l["name"], l["title"], ", ".join(l["runtimes"])] for l in labs])
    for p in problems:
        ctx.ui.error(f"warning: lab {p['name']} is invalid: {p['error']} (run `lab show {p['name']}`)")


def describe(lab: Lab) -> dict:
    steps = []
    for step in lab.steps:
        item = {"name": step.name, "kind": step.kind, "description": step.description}
        if step.apply:
            item["apply"] = {"group": step.apply, "templates": lab.manifests[step.apply]}
        if step.wait:
            item["wait"] = step.wait
        if step.check:
            c = step.check
            item["check"] = {"type": c.type, **c.params, "expect": c.expect, "timeout": c.timeout, "interval": c.interval}
            if c.runtimes:
                item["check"]["runtimes"] = list(c.runtimes)
        steps.append(item)
    certs = []
    if lab.pki:
        certs.append({"name": "ca", "usage": "root CA", "cn": lab.pki.root.cn, "days": lab.pki.root.days, "key": lab.pki.root.algorithm})
        certs.append({"name": "intermediate", "usage": "intermediate CA (pathlen 0)", "cn": lab.pki.intermediate.cn,
                      "days": lab.pki.intermediate.days, "key": lab.pki.intermediate.algorithm})
        for c in lab.pki.certificates.values():
            certs.append({"name": c.name, "usage": c.usage, "cn": c.cn, "dns": list(c.dns), "ip": list(c.ip),
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
        "values": lab.values,
        "certificates": certs,
        "steps": steps,
    }


def show_lab(ctx: LabContext, name: str, overrides: Overrides, output: str) -> None:
    lab = ctx.load(name, overrides)
    data = describe(lab)
    if output == "json":
        ctx.ui.json(data)
        return
    ui = ctx.ui
    ui.line(f"{lab.name}: {lab.title}")
    if lab.description:
        ui.line()
        ui.line(lab.description)
    if lab.source:
        ui.line()
        ui.line("Source: " + ", ".join(f"{k} {v}" for k, v in lab.source.items()))
    ui.line()
    ui.line(f"Runtimes: {', '.join(lab.runtimes)}")
    ui.line()
    ui.table(["version", "pinned"], sorted(lab.versions.items()), title="Versions")
    ui.table(["image", "reference (override with --set images.NAME=...)"], sorted(lab.images.items()), title="Images")
    ui.line("Values (override with --set key=value or -f values.yaml):")
    ui.line("  " + to_yaml(lab.values, 2))
    ui.table(["name", "usage", "cn", "sans", "days", "key"],
             [[c["name"], c["usage"], c["cn"], ", ".join(c.get("dns", []) + c.get("ip", [])), c["days"], c["key"]]
              for c in data["certificates"]], title="Certificates")
    rows = []
    for s in data["steps"]:
        if "check" in s:
            what = f"{s['check']['type']} check, expect {s['check']['expect']}"
        elif "apply" in s:
            what = f"apply {s['apply']['group']}: {', '.join(s['apply']['templates'])}"
        else:
            what = f"wait for {s['wait']['for']} {s['wait'].get('namespace', '') + '/' if s['wait'].get('namespace') else ''}{s['wait'].get('name', '')}"
        rows.append([s["name"], s["kind"], s["description"], what])
    ui.table(["step", "kind", "why", "what"], rows, title="Steps")


def _require_pki(lab: Lab) -> None:
    if lab.pki is None:
        raise BadInput(f"{lab.spec_file}: pki: this lab declares no PKI")


def issue_certs(ctx: LabContext, name: str, overrides: Overrides, out: Path | None, force: bool) -> tuple[Lab, Path, list[CertAction]]:
    lab = ctx.load(name, overrides)
    _require_pki(lab)
    directory = ctx.pki_dir(lab, out)
    actions = PkiManager(lab.pki, PkiStore(directory)).ensure(force=force)
    return lab, directory, actions


def certs_command(ctx: LabContext, name: str, overrides: Overrides, out: Path | None, force: bool) -> None:
    _lab, directory, actions = issue_certs(ctx, name, overrides, out, force)
    ctx.ui.table(["certificate", "action", "reason"], [[a.name, a.action, a.reason] for a in actions])
    ctx.ui.line(f"PKI in {directory}")


def show_cert(ctx: LabContext, path: Path, output: str) -> None:
    summaries = [summarize(c) for c in load_certs(path)]
    if output == "json":
        ctx.ui.json(summaries)
        return
    for i, s in enumerate(summaries):
        if i:
            ctx.ui.line()
        if len(summaries) > 1:
            ctx.ui.line(f"[{i}] {path}")
        basic = "CA:TRUE" + (f", pathlen:{s['path_length']}" if s["path_length"] is not None else "") if s["ca"] else "CA:FALSE"
        rows = [
            ("Subject", s["subject"]),
            ("Issuer", s["issuer"]),
            ("Serial", s["serial"]),
            ("Not before", s["not_before"]),
            ("Not after", f"{s['not_after']} ({s['days_left']} days left)" if s["days_left"] >= 0 else f"{s['not_after']} (EXPIRED)"),
            ("Key", s["key"]),
            ("SANs", ", ".join([f"DNS:{d}" for d in s["dns_names"]] + [f"IP:{a}" for a in s["ip_addresses"]]) or "-"),
            ("Key usage", ", ".join(s["key_usage"]) + (" (critical)" if s["key_usage_critical"] else "") or "-"),
            ("Extended key usage", ", ".join(s["extended_key_usage"]) or "-"),
            ("Basic constraints", basic),
            ("SHA-256", s["sha256"]),
        ]
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            ctx.ui.line(f"{key.ljust(width)}  {value}")


def verify_certs(ctx: LabContext, name: str, overrides: Overrides, out: Path | None, output: str) -> None:
    lab = ctx.load(name, overrides)
    _require_pki(lab)
    directory = ctx.pki_dir(lab, out)
    results = verify_pki(lab.pki, PkiStore(directory))
    if output == "json":
        ctx.ui.json([{**r.__dict__, "not_after": r.not_after.isoformat()} for r in results])
    else:
        ctx.ui.table(
            ["certificate", "kind", "cn", "expires", "residual time", "status"],
            [[r.name, r.kind, r.subject_cn, r.not_after.strftime("%b %d, %Y %H:%M UTC") if r.subject_cn else "-",
              f"{r.days_left}d" if r.subject_cn else "-", "ok" if r.ok else f"FAIL: {r.detail}"] for r in results],
        )
    failed = [r.name for r in results if not r.ok]
    if failed:
        raise ChecksFailed(f"certificate verification failed for: {', '.join(failed)} (in {directory})")


def render_command(ctx: LabContext, name: str, overrides: Overrides, out: Path | None, pki_out: Path | None) -> Rendered:
    lab = ctx.load(name, overrides)
    pki_dir = ctx.pki_dir(lab, pki_out)
    if lab.pki is not None:  # templates read certificates and keys with pem(): issue (or reuse) them first
        PkiManager(lab.pki, PkiStore(pki_dir)).ensure()
    out = out or (ctx.workdir / "rendered" / lab.instance)  # not .lab/: that copy belongs to a running instance
    rendered = render_to(lab, pki_dir, out)
    ctx.ui.line(f"rendered {len(rendered.files)} files for {lab.name} into {out}")
    for rel in rendered.files:
        ctx.ui.line(f"  {rel}")
    return rendered
