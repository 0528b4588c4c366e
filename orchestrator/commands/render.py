"""`lab render`: every artifact of a lab, rendered and checked in memory, then written."""

from __future__ import annotations

from pathlib import Path

from orchestrator.context import LabContext, Overrides
from orchestrator.files import writable_folder
from orchestrator.render.artifacts import Rendered, render_in_memory, write_rendered


def render_command(ctx: LabContext, name: str, overrides: Overrides, out: Path | None, pki_out: Path | None) -> Rendered:
    lab = ctx.load(name, overrides)
    pki_dir = ctx.pki_dir(lab, pki_out)
    out = writable_folder(out or (ctx.workdir / "rendered" / lab.instance), "--out")  # not .lab/: that copy is a running instance's
    writable_folder(pki_dir, "--pki")
    store, rendered = render_in_memory(lab, pki_dir)
    # The PKI is committed (under its lock, refused if another command changed it meanwhile) once every rendered
    # file is written, just before they are swapped in: a render that cannot be written leaves no new key behind.
    write_rendered(rendered, out, before_swap=store.commit)
    ctx.ui.line(f"rendered {len(rendered.files)} files for {lab.name} into {out}")
    for rel in rendered.files:
        ctx.ui.line(f"  {rel}")
    return rendered
