"""`lab render`: every artifact of a lab, rendered and checked in memory, then written."""

from __future__ import annotations

from pathlib import Path

from orchestrator.context import LabContext, Overrides
from orchestrator.render.artifacts import Rendered, render_in_memory, write_rendered


def render_command(ctx: LabContext, name: str, overrides: Overrides, out: Path | None, pki_out: Path | None) -> Rendered:
    lab = ctx.load(name, overrides)
    store, rendered = render_in_memory(lab, ctx.pki_dir(lab, pki_out))
    store.commit()
    out = out or (ctx.workdir / "rendered" / lab.instance)  # not .lab/: that copy belongs to a running instance
    write_rendered(rendered, out)
    ctx.ui.line(f"rendered {len(rendered.files)} files for {lab.name} into {out}")
    for rel in rendered.files:
        ctx.ui.line(f"  {rel}")
    return rendered
