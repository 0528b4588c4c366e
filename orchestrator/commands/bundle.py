"""`lab bundle LAB... --out DIR`: one folder a workshop carries to rooms without internet: every upstream file the
labs pin (with a SHA256SUMS listing, the form LAB_BUNDLE and `lab --bundle` read) and the images they run."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from orchestrator.context import LabContext
from orchestrator.errors import BadInput
from orchestrator.files import ensure_folder, writable_folder, write_atomic
from orchestrator.spec.values import Overrides


def _file_name(url: str, name: str) -> str:
    """The artifact's file in the bundle: its URL's last part (as the upstream serves it), else its name."""
    last = PurePosixPath(urlparse(url).path).name
    return last if last and last not in (".", "..") else f"{name}.bin"


BUNDLE_ENTRIES = {"SHA256SUMS", "artifacts", "images.tar"}  # all a bundle folder holds: a rerun may replace them


def bundle(ctx: LabContext, names: tuple[str, ...], out: Path, images: bool, runtime: str | None, output: str) -> dict:
    """Every lab loaded, every artifact fetched and checked, the engine found (for images) before the first file
    is written; the folder holds only a bundle's files, so a rerun replaces an earlier bundle, never a user's."""
    from orchestrator.commands.images import engine_answering, images_for, pullable, save_images
    from orchestrator.upstream import fetch

    if output == "json":
        ctx.ui.machine_output()
    labs = [ctx.load(name, Overrides()) for name in names]
    writable_folder(out, "--out")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in BUNDLE_ENTRIES) if out.is_dir() else []
    if foreign:
        raise BadInput(f"--out {out}: holds files that are not a bundle's ({', '.join(foreign[:5])}); choose an empty or new folder")
    files: dict[str, tuple[str, bytes]] = {}  # sha256 -> (path in the bundle, content)
    for lab in labs:
        for artifact in lab.artifacts.values():
            if artifact.sha256 not in files:
                ctx.ui.progress(f"artifact {artifact.name} ({lab.name})")
                rel = f"artifacts/{lab.name}/{_file_name(artifact.url, artifact.name)}"
                if rel in (r for r, _data in files.values()):  # two URLs ending alike: both kept
                    rel = f"artifacts/{lab.name}/{artifact.name}-{_file_name(artifact.url, artifact.name)}"
                files[artifact.sha256] = (rel, fetch(artifact.name, artifact.url, artifact.sha256))
    wanted: list[str] = []
    for lab in labs if images else ():
        chosen = runtime or next(n for n in ctx.runtimes.names() if n in lab.runtimes)
        ctx.runtimes.select(lab.runtimes, chosen, lab.name)
        wanted += [image for image in pullable(images_for(ctx, lab, chosen)) if image not in wanted]
    engine = engine_answering() if images else None  # exit 3 here, before any file
    for rel, data in files.values():
        write_atomic(ensure_folder(out / Path(rel).parent, "--out") / Path(rel).name, data, 0o644)
    sums = "".join(f"{sha}  ./{rel}\n" for sha, (rel, _data) in sorted(files.items(), key=lambda item: item[1][0]))
    write_atomic(out / "SHA256SUMS", sums.encode(), 0o644)
    if images:
        ctx.ui.progress(f"saving {len(wanted)} image(s) into {out / 'images.tar'}")
        save_images(wanted, out / "images.tar", engine)
    report = {"bundle": str(out), "artifacts": sorted(rel for rel, _data in files.values()), "images": wanted,
              "images_file": str(out / "images.tar") if images else None}
    if output == "json":
        ctx.ui.json(report)
    else:
        ctx.ui.line(f"{len(files)} artifact(s) and {len(wanted)} image(s) in {out}")
        ctx.ui.line(f"on each laptop: `lab images load {out / 'images.tar'}`, then `lab --bundle {out} up LAB` (or LAB_BUNDLE={out})"
                    if images else f"on each laptop: `lab --bundle {out} up LAB` (or LAB_BUNDLE={out})")
    return report


def check_names(names: tuple[str, ...]) -> None:
    if not names:
        raise BadInput("lab bundle: name at least one LAB")
