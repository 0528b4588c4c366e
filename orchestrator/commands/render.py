"""`lab render`: every artifact of a lab, rendered and checked in memory, then written."""

from __future__ import annotations

from pathlib import Path

from orchestrator.context import LabContext, Overrides
from orchestrator.files import writable_folder
from orchestrator.render.artifacts import Rendered, render_in_memory, write_rendered

PKI_IN_OUT = "pki"  # with --out and no --pki, the PKI lives here: nothing is written outside --out


def render_command(ctx: LabContext, name: str, overrides: Overrides, out: Path | None, pki_out: Path | None,
                   output: str = "table") -> Rendered:
    if output == "json":
        ctx.ui.machine_output()
    lab = ctx.load(name, overrides)
    pki_inside = out is not None and pki_out is None and lab.pki is not None
    out = writable_folder(out or (ctx.workdir / "rendered" / lab.instance), "--out")  # not .lab/: that copy is a running instance's
    pki_dir = out / PKI_IN_OUT if pki_inside else ctx.pki_dir(lab, pki_out)
    writable_folder(pki_dir, "--pki")
    store, rendered = render_in_memory(lab, pki_dir)

    kept: list[str] = []

    def keep_pki(staging: Path) -> list[str]:
        # The PKI is committed (under its lock, refused if another command changed it meanwhile) once every
        # rendered file is written, just before they are swapped in: a render that cannot be written leaves no
        # new key behind. Inside --out, the PKI (reused and new files) is swapped in with the rest.
        if pki_inside:
            kept.extend(f"{PKI_IN_OUT}/{name}" for name in store.export(staging / PKI_IN_OUT))
            return kept
        store.commit()
        return []

    write_rendered(rendered, out, before_swap=keep_pki)
    files = sorted([*rendered.files, *kept])
    if output == "json":
        ctx.ui.json({"lab": lab.name, "instance": lab.instance, "out": str(out),
                     "pki": str(pki_dir) if lab.pki is not None else None, "files": files})
        return rendered
    ctx.ui.line(f"rendered {len(files)} files for {lab.name} into {out}"
                + (f" (PKI: {pki_dir})" if lab.pki is not None else ""))
    for rel in files:
        ctx.ui.line(f"  {rel}")
    return rendered
