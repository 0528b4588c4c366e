"""Render every artifact of a lab up front, so `up` applies exactly what `render` shows.

All files are rendered in memory and checked before the first one is written: a template error
leaves the output folder as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from orchestrator.errors import BadInput, SpecErrors
from orchestrator.files import MAX_RECORD_BYTES, child, ensure_folder, locked, read_bounded, remove_tree, writable_folder, write_atomic
from orchestrator.kube.objects import KUBERNETES_NAMESPACES
from orchestrator.render.engine import lab_environment, render_template
from orchestrator.spec.model import PKI_SOURCE, Chart, Lab, Omission, UpstreamManifest
from orchestrator.spec.yamlio import load, load_all, yaml_problem

CLUSTER_DIR = "cluster"
STACK_DIR = "stack"
MANIFESTS_DIR = "manifests"
KIND_CONFIG = f"{CLUSTER_DIR}/kind-config.yaml"
COMPOSE_FILE = f"{STACK_DIR}/compose.yaml"
EMULATED_DIR = f"{CLUSTER_DIR}/emulated"  # what the charts would have created, for a runtime where they do not run


def chart_values_file(chart: Chart) -> str:
    return f"{CLUSTER_DIR}/charts/{chart.release}.values.yaml"


def chart_source(lab: Lab, chart: Chart):
    """What helm installs: the pinned archive when the lab has one (resolved from a bundle, the cache or its URL,
    checked against its sha256), else the chart by name, version and repository."""
    from orchestrator.providers.helm import ChartRef
    from orchestrator.upstream import cached_path

    if chart.artifact:
        artifact = lab.artifacts[chart.artifact]
        return ChartRef(str(cached_path(artifact.name, artifact.url, artifact.sha256)))
    return ChartRef(chart.chart, chart.version, chart.repo)


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

    def docs(self, group: str | None = None) -> list[dict]:
        """The manifests of one group (or all groups), parsed, in apply order."""
        groups = [group] if group else list(self.manifests)
        docs = []
        for name in groups:
            for rel in self.manifests.get(name, []):
                docs += [d for d in load_all(self.files[rel]) if d]
        return docs

    def docs_of(self, rel: str) -> list[dict]:
        return [d for d in load_all(self.files[rel]) if d]

    def emulated_docs(self) -> list[dict]:
        docs = []
        for rel in sorted(r for r in self.files if r.startswith(EMULATED_DIR + "/")):
            docs += [d for d in load_all(self.files[rel]) if d]
        return docs

    def compose(self) -> dict:
        return (load(self.files[COMPOSE_FILE]) or {}) if COMPOSE_FILE in self.files else {}

    def write(self, out: Path) -> list[Path]:
        """Every file into `out` (a folder of the tool's own making), each path proven inside it."""
        written = []
        for rel, content in self.files.items():
            secret = rel in self.secret_files or b"PRIVATE KEY" in content
            path = child(out, rel, "rendered file")
            write_atomic(path, content, 0o600 if secret else 0o644)
            written.append(path)
        return written


def pki_files(lab: Lab) -> set[str]:
    """Every file the lab's PKI issues: what `pem()` and a stack's `pki:` files may name, nothing else."""
    if lab.pki is None:
        return set()
    names = {"ca.crt", "intermediate.crt", "ca-chain.crt"}
    for cert in lab.pki.certificates:
        names |= {f"{cert}.crt", f"{cert}.key", f"{cert}-chain.crt", f"{cert}.pem"}
    return names


def _pem_reader(pki: Callable[[str], bytes | None], issued: set[str], keys_read: list[str] | None = None):
    def pem(name: str) -> str:
        if not isinstance(name, str) or name not in issued:
            raise BadInput(f"pem({str(name)[:80]!r}): the lab's PKI issues no such file (it issues {', '.join(sorted(issued)) or 'none'})")
        if keys_read is not None and name.endswith((".key", ".pem")):
            keys_read.append(name)
        content = pki(name)
        if content is None:
            raise BadInput(f"pem('{name}'): the lab's PKI issues no such file")
        return content.decode()

    return pem


def render_lab(lab: Lab, pki: Callable[[str], bytes | None]) -> Rendered:
    """Every artifact in memory; `pki(name)` gives the content of a PKI file (issued or staged)."""
    keys_read: list[str] = []
    issued = pki_files(lab)
    env = lab_environment(lab.directory, _pem_reader(pki, issued, keys_read))
    context = lab.context()
    rendered = Rendered()

    def add(rel: str, template: str) -> None:
        keys_read.clear()
        text = render_template(env, template, context)
        if keys_read:
            rendered.secret_files.add(rel)
        if _is_yaml(rel):
            try:
                docs = load_all(text)
            except yaml.YAMLError as exc:
                raise BadInput(f"{template}: renders invalid YAML ({rel}): {yaml_problem(exc)}") from None
            if rel.startswith(MANIFESTS_DIR):
                for doc in filter(None, docs):
                    if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind") or not (doc.get("metadata") or {}).get("name"):
                        raise BadInput(f"{template}: renders a manifest without apiVersion, kind and metadata.name ({rel})")
                    if doc["kind"] == "Namespace" and doc["metadata"]["name"] in KUBERNETES_NAMESPACES:
                        raise BadInput(f"{template}: renders Namespace {doc['metadata']['name']}, which is Kubernetes' own; a lab's "
                                       f"namespaces are its to delete on reset (choose another name in the values)")
        rendered.files[rel] = text.encode()

    if lab.cluster.get("kindConfig"):
        add(KIND_CONFIG, lab.cluster["kindConfig"])
    for chart in lab.charts:
        add(chart_values_file(chart), chart.values)
    for step in lab.steps:
        for rel, template in step.files.items():
            add(rel, template)
    for index, template in enumerate(lab.emulated_manifests):
        add(f"{EMULATED_DIR}/{index:02d}-{os.path.basename(output_name(template))}", template)
    if lab.stack:
        add(COMPOSE_FILE, lab.stack["compose"])
        rendered.files[COMPOSE_FILE] = _owned_stack(lab, rendered.files[COMPOSE_FILE])
        for target, source in sorted(lab.stack.get("files", {}).items()):
            rel = f"{STACK_DIR}/{target}"
            if source.startswith(PKI_SOURCE):
                name = source[len(PKI_SOURCE):]
                rendered.files[rel] = _pem_reader(pki, issued)(name).encode()
                if name.endswith((".key", ".pem")):
                    rendered.secret_files.add(rel)
            else:
                add(rel, source)
    for group, entries in lab.manifests.items():
        rendered.manifests[group] = []
        for index, entry in enumerate(entries):
            if isinstance(entry, UpstreamManifest):
                rel = f"{MANIFESTS_DIR}/{group}/{index:02d}-{entry.artifact}.yaml"
                rendered.files[rel] = upstream_manifest(lab, entry, f"manifests.{group}.{index}")
            else:
                rel = f"{MANIFESTS_DIR}/{group}/{index:02d}-{os.path.basename(output_name(entry))}"
                add(rel, entry)
            rendered.manifests[group].append(rel)
    return rendered


def _owned_stack(lab: Lab, text: bytes) -> bytes:
    """The compose file as the tool runs it: nothing in it reaches the host, everything it makes is labelled."""
    from orchestrator.render.compose import host_problems, labelled

    doc = load(text)
    where = f"{lab.stack['compose']} ({COMPOSE_FILE})"
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise BadInput(f"{where}: renders no compose document with services")
    problems = host_problems(doc, where)
    if problems:
        raise SpecErrors(problems)
    return yaml.safe_dump(labelled(doc, lab.owner_labels()), sort_keys=False).encode()


def _pod_specs(node):
    """Every pod spec in an object (a Pod's, a workload's template, a CronJob's job template)."""
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            yield node
        for value in node.values():
            yield from _pod_specs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _pod_specs(value)


def upstream_manifest(lab: Lab, entry: UpstreamManifest, field_path: str) -> bytes:
    """An upstream manifest as published (fetched and checked against its sha256), with the lab's images in
    place of those it names and the lab's labels on each object, so `down` finds exactly what it applied."""
    from orchestrator.upstream import fetch

    artifact = lab.artifacts[entry.artifact]
    try:
        docs = [d for d in load_all(fetch(artifact.name, artifact.url, artifact.sha256)) if d]
    except yaml.YAMLError as exc:
        raise BadInput(f"{lab.spec_file}: {field_path}: artifact {artifact.name} is not YAML: {yaml_problem(exc)}") from None
    used: set[str] = set()
    for doc in docs:
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind") or not (doc.get("metadata") or {}).get("name"):
            raise BadInput(f"{lab.spec_file}: {field_path}: artifact {artifact.name} holds a document without apiVersion, kind and metadata.name")
        doc["metadata"]["labels"] = {**(doc["metadata"].get("labels") or {}), **lab.owner_labels()}
        for spec in _pod_specs(doc.get("spec")):
            for container in spec.get("containers", []) + (spec.get("initContainers") or []):
                if container.get("image") in entry.images:
                    used.add(container["image"])
                    container["image"] = lab.images[entry.images[container["image"]]]
    for upstream in sorted(set(entry.images) - used):
        key = entry.images[upstream]
        raise BadInput(f"{lab.spec_file}: {field_path}.images.{key}: no container of {artifact.name} runs {upstream}")
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for j, omission in enumerate(entry.omit):
        if (omission.kind, omission.name) not in names:
            raise BadInput(f"{lab.spec_file}: {field_path}.omit.{j}: {artifact.name} has no {omission.kind} {omission.name}")
    for doc in docs:
        for runtime in {r for o in entry.omit for r in o.runtimes if entry.omitted(doc, r)}:
            doc["metadata"]["labels"][Omission.label(runtime)] = "true"
    return yaml.safe_dump_all(docs, sort_keys=False).encode()


OUTPUT_RECORD = ".lab-rendered.json"  # in an output folder: the files `lab` wrote there, so a rerun may replace them


def _written_before(out: Path) -> set[str]:
    """The files an earlier render wrote into `out`, from its record (a record that is not one: nothing)."""
    record = out / OUTPUT_RECORD
    if not record.is_file():
        return set()
    try:
        files = json.loads(read_bounded(record, "render record", MAX_RECORD_BYTES)).get("files")
    except (ValueError, AttributeError):
        return set()
    return {f for f in files if isinstance(f, str)} if isinstance(files, list) else set()


def _foreign_files(out: Path) -> list[str]:
    """Files in `out` that no render of `lab` wrote (the user's own): never replaced or deleted."""
    ours = _written_before(out) | {OUTPUT_RECORD}
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if not p.is_dir() and p.relative_to(out).as_posix() not in ours)


def write_rendered(rendered: Rendered, out: Path, before_swap: Callable[[Path], list[str] | None] | None = None, *, ours: bool = False) -> Rendered:
    """Replace `out` with the rendered set, atomically as a folder: written into a fresh folder beside it, then
    swapped in. `out` may hold only what an earlier render wrote (refused, naming them, when it holds anything
    else; `ours`: a folder only the tool writes, an instance's). `before_swap(staging)` runs once every file is
    written (the PKI is committed then, or written into the staging folder: only after all else worked); the
    files it names, relative to `out`, are recorded as ours with the rendered ones."""
    writable_folder(out, "--out")
    parent = ensure_folder(out.parent.resolve(), "--out")
    out = parent / out.name
    with locked(out, "--out"):
        if out.is_dir() and not ours:
            foreign = _foreign_files(out)
            if foreign:
                shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
                raise BadInput(f"--out {out}: holds files lab did not write ({shown}); choose an empty or new folder")
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.rendering-", dir=parent))
        try:
            os.chmod(staging, 0o755)
            rendered.write(staging)
            extra = before_swap(staging) if before_swap is not None else None
            record = {"files": sorted(set(rendered.files) | set(extra or ()))}
            write_atomic(staging / OUTPUT_RECORD, json.dumps(record, indent=2).encode(), 0o644)
            old = parent / f".{out.name}.replaced-{os.getpid()}"
            if out.is_dir():
                os.rename(out, old)
            os.rename(staging, out)
        except BaseException:
            remove_tree(staging)
            raise
        remove_tree(old)
    return rendered


def read_rendered(out: Path) -> Rendered:
    """The artifacts `up` wrote into an instance's folder, read back (for verify, which renders nothing)."""
    rendered = Rendered()
    for sub in (CLUSTER_DIR, STACK_DIR, MANIFESTS_DIR):
        for path in sorted((out / sub).rglob("*")):
            if path.is_file() and not path.is_symlink():
                rendered.files[path.relative_to(out).as_posix()] = read_bounded(path, "rendered file", MAX_RECORD_BYTES)
    for group_dir in sorted(p for p in (out / MANIFESTS_DIR).glob("*") if p.is_dir()):
        rendered.manifests[group_dir.name] = [p.relative_to(out).as_posix() for p in sorted(group_dir.glob("*.yaml"))]
    return rendered


def render_in_memory(lab: Lab, pki_dir: Path):
    """The lab's PKI issued or reused in a staged store (templates read certificates and keys with pem()) and
    every artifact rendered, nothing written: the caller commits the store and writes the files, or not."""
    from orchestrator.pki.manager import PkiManager
    from orchestrator.pki.store import PkiStore

    store = PkiStore(pki_dir, staged=True)
    if lab.pki is not None:
        PkiManager(lab.pki, store).ensure()
    return store, render_lab(lab, store.read)


def render_to(lab: Lab, pki_dir: Path, out: Path) -> Rendered:
    """Render against the PKI files in pki_dir and write into out (rendered in full before anything is written)."""
    from orchestrator.pki.store import PkiStore

    return write_rendered(render_lab(lab, PkiStore(pki_dir).read), out)
