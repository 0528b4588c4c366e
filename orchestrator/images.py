"""`lab images`: what a lab needs for a runtime, and pull/save/load for offline workshops (docker CLI)."""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestrator.providers import process
from orchestrator.spec import Lab


# Where the cilium chart's values name the images the lab runs (agent, operator, Envoy, Hubble Relay).
CHART_IMAGES = {"cilium": ("image",), "operator": ("operator", "image"), "envoy": ("envoy", "image"), "hubbleRelay": ("hubble", "relay", "image")}


def _image_ref(spec: dict, key: str) -> str:
    repository = spec["repository"] + ("-generic" if key == "operator" else "") + spec.get("suffix", "")
    return f"{repository}:{spec['tag']}"


def chart_images(lab: Lab) -> list[tuple[str, str]]:
    """The Cilium images of the pinned chart, as the chart itself declares them (needs helm)."""
    chart = lab.cluster.get("chart")
    if not chart:
        return []
    if process.which("helm") is None:
        version = chart["version"]
        return [("cilium:cilium", f"quay.io/cilium/cilium:v{version}"), ("cilium:operator", f"quay.io/cilium/operator-generic:v{version}"),
                ("cilium:hubbleRelay", f"quay.io/cilium/hubble-relay:v{version}"),
                ("cilium:envoy", "(install helm to resolve the cilium-envoy tag the chart pins)")]
    from orchestrator.providers.helm import HelmCli

    values = yaml.safe_load(HelmCli().show_values(chart["name"], chart["version"], chart.get("repo"))) or {}
    rows = []
    for key, path in CHART_IMAGES.items():
        node = values
        for part in path:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if node.get("repository") and node.get("tag"):
            rows.append((f"cilium:{key}", _image_ref(node, key)))
    return rows


def images_for(lab: Lab, runtime: str) -> list[tuple[str, str]]:
    """The lab's images; for kind also the node image and Cilium's images from its chart."""
    rows = [(key, image) for key, image in sorted(lab.images.items()) if runtime == "kind" or key != "kindNode"]
    if runtime == "kind":
        rows += chart_images(lab)
    return rows


def _pullable(rows: list[tuple[str, str]]) -> list[str]:
    return [image for _key, image in rows if not image.startswith("(")]


def list_images(ctx, lab: Lab, runtime: str, output: str) -> None:
    rows = images_for(lab, runtime)
    if output == "json":
        ctx.ui.json([{"key": k, "image": i} for k, i in rows])
    else:
        ctx.ui.table(["key", "image"], rows)


def pull(ctx, lab: Lab, runtime: str) -> None:
    for image in _pullable(images_for(lab, runtime)):
        process.run(["docker", "pull", image], timeout=1800)
        ctx.ui.line(f"pulled {image}")


def save(ctx, lab: Lab, runtime: str, out: Path) -> None:
    images = _pullable(images_for(lab, runtime))
    process.run(["docker", "save", "-o", str(out), *images], timeout=3600)
    ctx.ui.line(f"saved {len(images)} images to {out}")


def load(ctx, bundle: Path) -> None:
    result = process.run(["docker", "load", "-i", str(bundle)], timeout=3600)
    ctx.ui.line(result.stdout.strip())
