"""Helm-style value overrides: `-f values.yaml` files and `--set a.b=c`, checked against the defaults."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import BadInput, SpecErrors
from orchestrator.spec.yamlio import read_yaml


def deep_merge(base: dict, override: dict) -> dict:
    """Return base with override merged in; mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


MAX_SET_LENGTH = 4096


def parse_set(assignment: str) -> dict:
    """`a.b.c=value` → {'a': {'b': {'c': value}}}; the value is read as a YAML scalar (8083 → int)."""
    shown = assignment if len(assignment) <= 80 else assignment[:77] + "..."
    if len(assignment) > MAX_SET_LENGTH:
        raise BadInput(f"--set {shown}: longer than {MAX_SET_LENGTH} characters")
    key, sep, raw = assignment.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise BadInput(f"--set {shown}: expected key.path=value")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    if value is None or isinstance(value, (dict, list)) or type(value).__name__ in ("date", "datetime"):
        value = raw  # --set sets one scalar; `a=[1]` or `a=2024-01-01` stays the text typed
    tree: Any = value
    for part in reversed(key.split(".")):
        tree = {part: tree}
    return tree


def load_values_file(path: Path) -> dict:
    data = read_yaml(path, "values file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput(f"{path}: a values file must be a mapping of keys to values")
    return data


_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_overrides(defaults: dict, override: dict, origin: str, prefix: str = "") -> list[str]:
    """Unknown keys and type changes are errors: a typo in --set must not be silently ignored."""
    problems: list[str] = []
    for key, value in override.items():
        path = f"{prefix}{key}"
        if key not in defaults:
            known = ", ".join(sorted(f"{prefix}{k}" for k in defaults)[:20]) or "none"
            problems.append(f"{origin}: {path}: unknown key (known here: {known})")
            continue
        default = defaults[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                problems.append(f"{origin}: {path}: expected a mapping, got {_shown(value)}")
            else:
                problems += check_overrides(default, value, origin, f"{path}.")
            continue
        compatible = (
            type(value) is type(default)
            or (isinstance(default, float) and type(value) is int)
            or (isinstance(default, str) and type(value) in (int, float))  # "1.19" typed as 1.19
        )
        if default is not None and not compatible:
            problems.append(f"{origin}: {path}: expected {_type_name(default)}, got {_shown(value)}")
    return problems


def load_images_file(path: Path, known: dict) -> dict:
    """An images file (`images: {key: ref}`, or the mapping alone) as a values layer. One file serves many labs,
    so keys a lab does not have are left out, not errors."""
    data = load_values_file(path)
    images = data.get("images", data) if isinstance(data.get("images"), dict) else data
    bad = [k for k, v in images.items() if not isinstance(v, str)]
    if bad:
        raise BadInput(f"{path}: images.{bad[0]}: expected an image reference (a string)")
    return {"images": {k: v for k, v in images.items() if k in known}}


def apply_overrides(defaults: dict, files: list[Path], sets: list[str], images_files: list[Path] | tuple = ()) -> dict:
    """Merge images files, values files, then --set assignments over defaults, reporting every problem at once."""
    problems: list[str] = []
    merged = defaults
    layers = [(str(path), load_images_file(path, defaults.get("images", {}))) for path in images_files]
    layers += [(str(path), load_values_file(path)) for path in files]
    layers += [(f"--set {item}", parse_set(item)) for item in sets]
    for origin, layer in layers:
        found = check_overrides(defaults, layer, origin)
        problems += found
        if not found:
            merged = deep_merge(merged, _stringify_like(defaults, layer))
    if problems:
        raise SpecErrors(problems)
    return merged


def _stringify_like(defaults: dict, layer: dict) -> dict:
    """Values whose default is a string stay strings (`--set versions.cilium=1.19` must not become 1.19 float)."""
    out = {}
    for key, value in layer.items():
        default = defaults.get(key)
        if isinstance(value, dict):
            out[key] = _stringify_like(default if isinstance(default, dict) else {}, value)
        elif isinstance(default, str) and not isinstance(value, str):
            out[key] = str(value)
        else:
            out[key] = value
    return out
