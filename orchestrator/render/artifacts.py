"""Render every artifact of a lab up front, so `up` applies exactly what `render` shows.

All files are rendered in memory and checked before the first one is written: a template error
leaves the output folder as it was.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchestrator.catalog import shared_templates_dir
from orchestrator.errors import BadInput
from orchestrator.pki.store import write_atomic
from orchestrator.render.engine import make_environment, render_template
from orchestrator.spec.load import PKI_SOURCE
from orchestrator.spec.model import Lab
from orchestrator.spec.yamlio import yaml_problem

CLUSTER_DIR = "cluster"
STACK_DIR = "stack"
MANIFESTS_DIR = "manifests"
KIND_CONFIG = f"{CLUSTER_DIR}/kind-config.yaml"
CILIUM_VALUES = f"{CLUSTER_DIR}/cilium-values.yaml"
COMPOSE_FILE = f"{STACK_DIR}/compose.yaml"


def output_name(template: str) -> str:
    return template[:-3] if template.endswith(".j2") else template


def _is_yaml(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


@dataclass
class Rendered:
    """The artifacts of one lab: relative path → content, and the manifest files per group, in order."""

    files: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, list[str]] = field(default_factory=dict)
    secret_files: set[str] = field(default_factory=set)  # hold private keys: written 0600

    def write(self, out: Path) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for rel, content in self.files.items():
            secret = rel in self.secret_files or b"PRIVATE KEY" in content
            path = out / rel
            write_atomic(path, content, 0o600 if secret else 0o644)
            written.append(path)
        return written


def _pem_reader(pki_dir: Path, keys_read: list[str] | None = None):
    def pem(name: str) -> str:
        path = pki_dir / name
        if keys_read is not None and name.endswith((".key", ".pem")):
            keys_read.append(name)
        if not path.is_file():
            raise BadInput(f"{path}: PKI file missing (run `lab certs` first)")
        return path.read_text()

    return pem


def render_lab(lab: Lab, pki_dir: Path) -> Rendered:
    keys_read: list[str] = []
    env = make_environment([lab.templates_dir, shared_templates_dir()], {"pem": _pem_reader(pki_dir, keys_read)})
    context = lab.context()
    rendered = Rendered()

    def add(rel: str, template: str) -> None:
        keys_read.clear()
        text = render_template(env, template, context)
        if keys_read:
            rendered.secret_files.add(rel)
        if _is_yaml(rel):
            try:
                list(yaml.safe_load_all(text))
            except yaml.YAMLError as exc:
                raise BadInput(f"{template}: renders invalid YAML ({rel}): {yaml_problem(exc)}") from None
        rendered.files[rel] = text.encode()

    if lab.cluster.get("kindConfig"):
        add(KIND_CONFIG, lab.cluster["kindConfig"])
    if lab.cluster.get("ciliumValues"):
        add(CILIUM_VALUES, lab.cluster["ciliumValues"])
    if lab.stack:
        add(COMPOSE_FILE, lab.stack["compose"])
        for target, source in sorted(lab.stack.get("files", {}).items()):
            rel = f"{STACK_DIR}/{target}"
            if source.startswith(PKI_SOURCE):
                rendered.files[rel] = _pem_reader(pki_dir)(source[len(PKI_SOURCE) :]).encode()
            else:
                add(rel, source)
    for group, templates in lab.manifests.items():
        rendered.manifests[group] = []
        for index, template in enumerate(templates):
            rel = f"{MANIFESTS_DIR}/{group}/{index:02d}-{os.path.basename(output_name(template))}"
            add(rel, template)
            rendered.manifests[group].append(rel)
    return rendered


def group_files(rendered_dir: Path, group: str) -> list[Path]:
    """The rendered manifests of one group, in apply order."""
    return sorted((rendered_dir / MANIFESTS_DIR / group).glob("*.yaml"))


def render_to(lab: Lab, pki_dir: Path, out: Path, *, clean: bool = True) -> Rendered:
    """Render, then replace the output folder's artifact subfolders with the new set."""
    rendered = render_lab(lab, pki_dir)
    if clean:
        for sub in (CLUSTER_DIR, STACK_DIR, MANIFESTS_DIR):
            if (out / sub).is_dir():
                shutil.rmtree(out / sub)
    rendered.write(out)
    return rendered
