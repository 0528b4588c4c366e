"""`lab images`: what a lab needs for a runtime, and pull/save/load for offline workshops.

A chart's images are the images its rendered manifests run (`helm template` with the lab's values):
exact for any chart, with no knowledge of how a chart lays out its values.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.context import LabContext
from orchestrator.errors import BadInput
from orchestrator.files import writable_folder
from orchestrator.providers.docker_cli import DockerCli
from orchestrator.providers.helm import find_helm
from orchestrator.render.images import manifest_images
from orchestrator.spec import Lab


def chart_images(ctx: LabContext, lab: Lab) -> list[tuple[str, str]]:
    """The images each chart runs with the lab's values (needs helm and the chart)."""
    if not lab.charts:
        return []
    if find_helm() is None:
        return [(f"chart:{c.release}", f"(install helm to list the images of chart {c.chart} {c.version})") for c in lab.charts]
    import tempfile

    from orchestrator.providers.helm import HelmCli
    from orchestrator.render.artifacts import chart_source, chart_values_file, render_in_memory

    _store, rendered = render_in_memory(lab, ctx.pki_dir(lab))
    rows = []
    with tempfile.TemporaryDirectory(prefix="lab-chart-") as tmp:
        for chart in lab.charts:
            values = Path(tmp) / f"{chart.release}.yaml"
            values.write_bytes(rendered.files[chart_values_file(chart)])
            text = HelmCli().template(release=chart.release, chart=chart_source(lab, chart), namespace=chart.namespace, values=values,
                                      kube_version=lab.versions.get("kubernetes"))
            rows += [(f"chart:{chart.release}", image) for image in manifest_images(text)]
    return rows


def images_for(ctx: LabContext, lab: Lab, runtime: str) -> list[tuple[str, str]]:
    """The lab's images the runtime runs, and every image its charts run where the runtime installs them."""
    return ctx.runtimes.images_for(lab, runtime) + (chart_images(ctx, lab) if ctx.runtimes.get(runtime).runs_charts else [])


def pullable(rows: list[tuple[str, str]]) -> list[str]:
    return [image for _key, image in rows if not image.startswith("(")]


def list_images(ctx: LabContext, lab: Lab, runtime: str, output: str) -> None:
    rows = images_for(ctx, lab, runtime)
    if output == "json":
        ctx.ui.json([{"key": k, "image": i} for k, i in rows])
    else:
        ctx.ui.table(["key", "image"], rows)


def engine_answering() -> DockerCli:
    """The docker CLI, once the engine answers (exit 3 naming the fix when it does not)."""
    from orchestrator.errors import MissingPrerequisite
    from orchestrator.providers.docker_cli import HINT

    cli = DockerCli()
    if cli.server_version() is None:
        raise MissingPrerequisite("the Docker engine does not answer", hint=HINT)
    return cli


def bundle_problem(bundle: Path) -> str | None:
    """What makes a file not an image bundle `docker save` writes (a tar holding manifest.json, every member a
    relative path inside it, links pointing inside it), or None. Checked before Docker sees it."""
    import posixpath
    import tarfile

    from orchestrator.files import require_regular_file

    require_regular_file(bundle, "image bundle")
    try:
        with tarfile.open(bundle, mode="r:") as tar:
            names = set()
            for member in tar:
                name = member.name
                if name.startswith("/") or ".." in name.split("/"):
                    return f"member {name[:120]!r} is not a relative path inside the bundle"
                if member.issym() or member.islnk():
                    target = member.linkname if member.islnk() else posixpath.join(posixpath.dirname(name), member.linkname)
                    if member.linkname.startswith("/") or posixpath.normpath(target).startswith(".."):
                        return f"member {name[:120]!r} links outside the bundle ({member.linkname[:120]})"
                elif not (member.isfile() or member.isdir()):
                    return f"member {name[:120]!r} is not a file or folder"
                names.add(posixpath.normpath(name))
    except (tarfile.TarError, OSError, EOFError) as exc:
        return f"not a tar archive ({str(exc)[:120]})"
    if "manifest.json" not in names:
        return "holds no manifest.json (write one with `lab images save`)"
    return None


def pull(ctx: LabContext, lab: Lab, runtime: str) -> None:
    cli = engine_answering()
    for image in pullable(images_for(ctx, lab, runtime)):
        cli.pull(image)
        ctx.ui.line(f"pulled {image}")


def save_images(images: list[str], out: Path, engine: DockerCli | None = None) -> None:
    """The images into one `docker save` archive (the engine must answer; exit 3 when it does not)."""
    writable_folder(out.parent, "--out")
    if out.exists() and not out.is_file():
        raise BadInput(f"--out {out}: exists and is not a file")
    (engine or engine_answering()).save(images, out)


def save(ctx: LabContext, lab: Lab, runtime: str, out: Path) -> None:
    images = pullable(images_for(ctx, lab, runtime))
    save_images(images, out)
    ctx.ui.line(f"saved {len(images)} images to {out}")


def load(ctx: LabContext, bundle: Path) -> None:
    problem = bundle_problem(bundle)
    if problem:
        raise BadInput(f"{bundle}: not an image bundle: {problem}")
    ctx.ui.line(engine_answering().load(bundle))
