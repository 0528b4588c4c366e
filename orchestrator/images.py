"""`lab images`: what a lab needs for a runtime, and pull/save/load for offline workshops (docker CLI)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.providers import process
from orchestrator.spec import Lab


def images_for(lab: Lab, runtime: str) -> list[tuple[str, str]]:
    """The lab's images; the kind node image only for kind. Cilium's own images come with its chart."""
    rows = [(key, image) for key, image in sorted(lab.images.items()) if runtime == "kind" or key != "kindNode"]
    if runtime == "kind":
        version = lab.cluster.get("chart", {}).get("version", "")
        for name in ("cilium", "operator-generic", "hubble-relay"):
            rows.append((f"cilium:{name}", f"quay.io/cilium/{name}:v{version}"))
    return rows


def list_images(ctx, lab: Lab, runtime: str, output: str) -> None:
    rows = images_for(lab, runtime)
    if output == "json":
        ctx.ui.json([{"key": k, "image": i} for k, i in rows])
    else:
        ctx.ui.table(["key", "image"], rows)


def pull(ctx, lab: Lab, runtime: str) -> None:
    for _key, image in images_for(lab, runtime):
        process.run(["docker", "pull", image], timeout=1800)
        ctx.ui.line(f"pulled {image}")


def save(ctx, lab: Lab, runtime: str, out: Path) -> None:
    images = [i for _k, i in images_for(lab, runtime)]
    process.run(["docker", "save", "-o", str(out), *images], timeout=3600)
    ctx.ui.line(f"saved {len(images)} images to {out}")


def load(ctx, bundle: Path) -> None:
    result = process.run(["docker", "load", "-i", str(bundle)], timeout=3600)
    ctx.ui.line(result.stdout.strip())
