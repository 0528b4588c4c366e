"""Which images rendered manifests run: what a chart needs side-loaded and bundled."""

from __future__ import annotations

from orchestrator.spec.yamlio import load_all


def manifest_images(text: str) -> list[str]:
    """Every container and init container image of the pod templates in rendered manifests."""
    found: list[str] = []

    def visit(node) -> None:
        if isinstance(node, dict):
            for key in ("containers", "initContainers", "ephemeralContainers"):
                for container in node.get(key) or []:
                    if isinstance(container, dict) and container.get("image") and container["image"] not in found:
                        found.append(container["image"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for doc in load_all(text):
        visit(doc)
    return found
