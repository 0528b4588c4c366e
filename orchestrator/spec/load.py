"""Load a lab spec: schema and cross-field validation (every problem at once), overrides, templated values."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from orchestrator.catalog import LabEntry, shared_templates_dir
from orchestrator.errors import BadInput, SpecErrors
from orchestrator.render.engine import make_environment, render_string
from orchestrator.spec.model import (
    DEFAULT_ALGORITHM,
    DEFAULT_CHECK_INTERVAL,
    DEFAULT_CHECK_TIMEOUT,
    REFUSAL_CHECK_TIMEOUT,
    CASpec,
    CertSpec,
    Check,
    Lab,
    PkiSpec,
    Step,
)
from orchestrator.spec.values import apply_overrides
from orchestrator.spec.yamlio import read_yaml

STEP_KINDS = ("apply", "wait", "check")
DNS_NAME = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$", re.I)
PKI_SOURCE = "pki:"  # stack files copied from the issued PKI instead of rendered


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    schema = yaml.safe_load((Path(__file__).parent / "schema.yaml").read_text())
    return jsonschema.Draft202012Validator(schema)


def read_spec(spec_file: Path) -> dict:
    raw = read_yaml(spec_file, "lab spec")
    if not isinstance(raw, dict):
        raise BadInput(f"{spec_file}: a lab spec must be a mapping")
    return raw


def _field(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def schema_problems(raw: dict, origin: str) -> list[str]:
    problems = []
    for error in sorted(_validator().iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path]):
        message = error.message
        if error.validator == "enum":
            message = "must be one of " + ", ".join(str(v) for v in error.validator_value)
        elif error.validator == "additionalProperties" and "were unexpected" in message or "was unexpected" in message:
            message = "unknown field " + message.split("(")[-1].rstrip(")").replace(" was unexpected", "").replace(" were unexpected", "")
        problems.append(f"{origin}: {_field(error.absolute_path)}: {message}")
    return problems


def _template_exists(name: str, lab_dir: Path) -> bool:
    return any((d / name).is_file() for d in (lab_dir / "templates", shared_templates_dir()))


def semantic_problems(raw: dict, lab_dir: Path, origin: str) -> list[str]:
    """Rules that tie fields together; run on a schema-valid spec."""
    problems: list[str] = []

    def bad(field: str, message: str) -> None:
        problems.append(f"{origin}: {field}: {message}")

    if raw.get("name") != lab_dir.name:
        bad("name", f"must match the lab's folder name '{lab_dir.name}'")
    manifests = raw.get("manifests", {})
    for group, templates in manifests.items():
        for i, name in enumerate(templates):
            if not _template_exists(name, lab_dir):
                bad(f"manifests.{group}.{i}", f"template '{name}' not found in {lab_dir / 'templates'} or the shared templates")
    for key in ("kindConfig", "ciliumValues"):
        name = raw.get("cluster", {}).get(key)
        if name and not _template_exists(name, lab_dir):
            bad(f"cluster.{key}", f"template '{name}' not found")
    if "kind" in raw.get("runtimes", []):
        for key in ("kindConfig", "ciliumValues", "chart"):
            if key not in raw.get("cluster", {}):
                bad(f"cluster.{key}", "required when the lab supports the kind runtime")
    stack = raw.get("stack", {})
    if stack:
        if not _template_exists(stack["compose"], lab_dir):
            bad("stack.compose", f"template '{stack['compose']}' not found")
        cert_names = set(raw.get("pki", {}).get("certificates", {}))
        for target, source in stack.get("files", {}).items():
            if Path(target).is_absolute() or ".." in Path(target).parts:
                bad(f"stack.files.{target}", "must be a relative path inside the stack folder")
            if source.startswith(PKI_SOURCE):
                pki_file = source[len(PKI_SOURCE) :]
                if not _is_pki_file(pki_file, cert_names):
                    bad(f"stack.files.{target}", f"'{pki_file}' is not a file the lab's PKI issues")
            elif not _template_exists(source, lab_dir):
                bad(f"stack.files.{target}", f"template '{source}' not found")
    seen: set[str] = set()
    lab_runtimes = set(raw.get("runtimes", []))
    for i, step in enumerate(raw.get("steps", [])):
        kinds = [k for k in STEP_KINDS if k in step]
        if len(kinds) != 1:
            bad(f"steps.{i}", "needs exactly one of apply, wait, check")
        if step.get("name") in seen:
            bad(f"steps.{i}.name", f"duplicate step name '{step['name']}'")
        seen.add(step.get("name"))
        if "apply" in step and step["apply"] not in manifests:
            known = ", ".join(sorted(manifests)) or "none"
            bad(f"steps.{i}.apply", f"unknown manifest group '{step['apply']}' (known: {known})")
        check = step.get("check", {})
        for runtime in check.get("runtimes", []):
            if runtime not in lab_runtimes:
                bad(f"steps.{i}.check.runtimes", f"'{runtime}' is not one of the lab's runtimes")
        wait = step.get("wait", {})
        needs = {"pod-ready": ("namespace", "name"), "crd-established": ("name",)}.get(wait.get("for"), ())
        for key in needs:
            if key not in wait:
                bad(f"steps.{i}.wait.{key}", f"required when waiting for {wait['for']}")
        if check.get("type") == "http" and check.get("cert") and not check.get("key"):
            bad(f"steps.{i}.check.key", "required when cert is set")
    return problems


def _is_pki_file(name: str, cert_names: set[str]) -> bool:
    if name in ("ca.crt", "intermediate.crt", "ca-chain.crt"):
        return True
    for cert in cert_names:
        if name in (f"{cert}.crt", f"{cert}.key", f"{cert}-chain.crt", f"{cert}.pem"):
            return True
    return False


def _resolve_tree(env, tree: Any, context_of, origin: str, prefix: str) -> Any:
    """Render every string holding `{{` until nothing changes (values may refer to other values)."""
    for _ in range(10):
        changed = False

        def walk(node: Any, path: str) -> Any:
            nonlocal changed
            if isinstance(node, dict):
                return {k: walk(v, f"{path}.{k}") for k, v in node.items()}
            if isinstance(node, list):
                return [walk(v, f"{path}.{i}") for i, v in enumerate(node)]
            if isinstance(node, str) and "{{" in node:
                rendered = render_string(env, node, context_of(tree), f"{origin}: {path.lstrip('.')}")
                changed |= rendered != node
                return rendered
            return node

        tree = walk(tree, prefix)
        if not changed:
            return tree
    raise BadInput(f"{origin}: {prefix or 'values'}: templated values refer to each other in a cycle")


def _subject(*layers: dict | None) -> tuple[tuple[str, str], ...]:
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer or {})
    return tuple((k, merged[k]) for k in ("C", "ST", "L", "O", "OU") if k in merged)


def _build_pki(raw: dict | None, origin: str) -> PkiSpec | None:
    if not raw:
        return None
    algorithm = raw.get("algorithm", DEFAULT_ALGORITHM)
    base = raw.get("subject")
    problems = []
    certificates = {}
    for name, cert in raw["certificates"].items():
        for i, ip in enumerate(cert.get("ip", [])):
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                problems.append(f"{origin}: pki.certificates.{name}.ip.{i}: '{ip}' is not an IP address")
        for i, dns in enumerate(cert.get("dns", [])):
            if not DNS_NAME.match(dns):
                problems.append(f"{origin}: pki.certificates.{name}.dns.{i}: '{dns}' is not a DNS name")
        if cert["usage"] == "server" and not (cert.get("dns") or cert.get("ip")):
            problems.append(f"{origin}: pki.certificates.{name}: a server certificate needs at least one dns or ip SAN")
        certificates[name] = CertSpec(
            name=name,
            usage=cert["usage"],
            cn=cert["cn"],
            dns=tuple(cert.get("dns", [])),
            ip=tuple(cert.get("ip", [])),
            days=cert.get("days", 365),
            algorithm=cert.get("algorithm", algorithm),
            subject=_subject(base, cert.get("subject")),
        )
    if problems:
        raise SpecErrors(problems)
    root, inter = raw["root"], raw["intermediate"]
    return PkiSpec(
        root=CASpec(root["cn"], root.get("days", 3650), algorithm, _subject(base, root.get("subject"))),
        intermediate=CASpec(inter["cn"], inter.get("days", 1825), algorithm, _subject(base, inter.get("subject"))),
        certificates=certificates,
    )


def _build_step(raw: dict) -> Step:
    kind = next(k for k in STEP_KINDS if k in raw)
    check = None
    if kind == "check":
        params = {k: v for k, v in raw["check"].items() if k not in ("type", "expect", "timeout", "interval", "runtimes")}
        c = raw["check"]
        expect = dict(c.get("expect", {}))
        refusal = "error" in expect or expect.get("exitCode", 0) != 0 or expect.get("verified") is False or "alert" in expect
        check = Check(
            type=c["type"],
            params=params,
            expect=expect,
            # A check that expects a refusal passes at once when things work; retrying it long only delays failure.
            timeout=float(c.get("timeout", REFUSAL_CHECK_TIMEOUT if refusal else DEFAULT_CHECK_TIMEOUT)),
            interval=float(c.get("interval", DEFAULT_CHECK_INTERVAL)),
            runtimes=tuple(c.get("runtimes", ())),
        )
    return Step(
        name=raw["name"],
        kind=kind,
        description=raw.get("description", ""),
        apply=raw.get("apply"),
        wait=raw.get("wait"),
        check=check,
    )


def load_lab(
    entry: LabEntry,
    *,
    values_files: list[Path] | tuple = (),
    sets: list[str] | tuple = (),
    instance: str | None = None,
) -> Lab:
    spec_file = entry.spec_file
    origin = str(spec_file)
    raw = read_spec(spec_file)
    problems = schema_problems(raw, origin)
    try:
        problems += semantic_problems(raw, entry.directory, origin)
    except (AttributeError, KeyError, TypeError):
        pass  # the structure is broken where the cross-field rules look; the schema problems say where

    if problems:
        raise SpecErrors(problems)

    defaults = {**raw.get("values", {}), "images": raw.get("images", {}), "versions": raw.get("versions", {})}
    merged = apply_overrides(defaults, list(values_files), list(sets))
    instance = instance or raw["name"]
    if not re.match(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", instance):
        raise BadInput(f"--instance {instance}: use lowercase letters, digits and dashes (at most 40)")

    env = make_environment([entry.directory / "templates", shared_templates_dir()])
    lab_ctx = {"name": raw["name"], "title": raw["title"], "instance": instance}
    values = _resolve_tree(env, merged, lambda tree: {**tree, "lab": lab_ctx}, origin, "values")

    images = values.pop("images")
    versions = values.pop("versions")
    base_ctx = {**values, "images": images, "versions": versions, "lab": lab_ctx}
    pki_raw = _resolve_tree(env, raw.get("pki"), lambda _tree: base_ctx, origin, "pki") if raw.get("pki") else None
    pki = _build_pki(pki_raw, origin)

    lab = Lab(
        name=raw["name"],
        title=raw["title"],
        description=raw.get("description", "").strip(),
        source=raw.get("source", {}),
        runtimes=tuple(raw["runtimes"]),
        directory=entry.directory,
        spec_file=spec_file,
        instance=instance,
        values=values,
        images=images,
        versions=versions,
        pki=pki,
        cluster={},
        stack=raw.get("stack", {}),
        manifests=raw.get("manifests", {}),
    )
    context = lab.context()
    lab.cluster = _resolve_tree(env, raw.get("cluster", {}), lambda _tree: context, origin, "cluster")
    context = lab.context()
    steps_raw = _resolve_tree(env, raw.get("steps", []), lambda _tree: context, origin, "steps")
    lab.steps = [_build_step(s) for s in steps_raw]
    return lab
