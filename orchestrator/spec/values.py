"""Helm-style value overrides: images files, `-f values.yaml` files and `--set a.b=c`, checked against the
defaults. What a user gives is data: it is never rendered as a template, and each value remembers where it
came from so a problem with it names the user's own file or `--set`, not the lab's spec."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import BadInput, SpecErrors
from orchestrator.spec.yamlio import parse_yaml, read_yaml_as_typed

MAX_SET_LENGTH = 4096
KeyPath = tuple[str, ...]


def deep_merge(base: dict, override: dict) -> dict:
    """Return base with override merged in; mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass
class Overrides:
    """What a user gives a command on top of a lab's defaults: values files, --set, images files, an instance."""

    values_files: tuple[Path, ...] = ()
    sets: tuple[str, ...] = ()
    instance: str | None = None
    images_files: tuple[Path, ...] = ()


@dataclass
class Layer:
    """One source of overrides: the values as YAML 1.2 types them, and the same with every scalar as typed text."""

    origin: str
    typed: dict
    text: dict


def _shown_set(assignment: str) -> str:
    return assignment if len(assignment) <= 80 else assignment[:77] + "..."


def parse_set(assignment: str) -> dict:
    """`a.b.c=value` → {'a': {'b': {'c': value}}}; the value is one YAML 1.2 scalar (8083 → int, on → 'on')."""
    return _set_layer(assignment).typed


def _set_layer(assignment: str) -> Layer:
    shown = _shown_set(assignment)
    if len(assignment) > MAX_SET_LENGTH:
        raise BadInput(f"--set {shown}: longer than {MAX_SET_LENGTH} characters")
    key, sep, raw = assignment.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise BadInput(f"--set {shown}: expected key.path=value")
    try:
        value = parse_yaml(raw, "--set") if raw != "" else ""
    except BadInput:
        value = raw
    if value is None or isinstance(value, (dict, list)):
        value = raw  # --set sets one scalar; `a=[1]` stays the text typed
    typed: Any = value
    text: Any = raw
    for part in reversed(key.split(".")):
        typed, text = {part: typed}, {part: text}
    return Layer(f"--set {shown}", typed, text)


def _file_layer(path: Path, what: str) -> Layer:
    typed, text = read_yaml_as_typed(path, what)
    if typed is None:
        return Layer(str(path), {}, {})
    if not isinstance(typed, dict):
        raise BadInput(f"{path}: a {what} must be a mapping of keys to values")
    return Layer(str(path), typed, text)


def load_values_file(path: Path) -> dict:
    return _file_layer(path, "values file").typed


def _images_layer(path: Path, known: dict) -> Layer:
    """An images file (`images: {key: ref}`, or the mapping alone) as a values layer. One file serves many labs,
    so keys a lab does not have are left out, not errors."""
    layer = _file_layer(path, "images file")
    nested = isinstance(layer.typed.get("images"), dict)
    images = layer.typed["images"] if nested else layer.typed
    bad = [k for k, v in images.items() if not isinstance(v, str)]
    if bad:
        raise BadInput(f"{path}: images.{str(bad[0])[:60]}: expected an image reference (a string)")
    kept = {k: v for k, v in images.items() if k in known}
    # Nothing of this lab's: no layer at all (an empty `images` mapping would count as the user's, every image under it).
    return Layer(layer.origin, {"images": kept} if kept else {}, {"images": {}} if kept else {})


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
            problems.append(f"{origin}: {str(path)[:120]}: unknown key (known here: {known})")
            continue
        default = defaults[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                problems.append(f"{origin}: {path}: expected a mapping, got {_shown(value)}")
            else:
                problems += check_overrides(default, value, origin, f"{path}.")
            continue
        compatible = type(value) is type(default) or (isinstance(default, float) and type(value) is int)
        if default is not None and not compatible:
            problems.append(f"{origin}: {path}: expected {_type_name(default)}, got {_shown(value)}")
    return problems


def _declared_string(schema: dict | None, default: Any) -> bool:
    """Whether a value is text by declaration: its schema's type says string, or (no type) its default is one."""
    declared = (schema or {}).get("type")
    if declared is not None:
        return declared == "string" or (isinstance(declared, list) and declared == ["string"])
    return isinstance(default, str)


def subschema(schema: dict | None, key: str) -> dict | None:
    if not isinstance(schema, dict):
        return None
    found = (schema.get("properties") or {}).get(key)
    if found is None and isinstance(schema.get("additionalProperties"), dict):
        found = schema["additionalProperties"]
    return found


def _as_declared(defaults: Any, schema: dict | None, typed: Any, text: Any) -> Any:
    """Where a value is declared text, the text the user typed (`1.10` stays "1.10", `0777` stays "0777")."""
    if isinstance(typed, dict):
        return {k: _as_declared(defaults.get(k) if isinstance(defaults, dict) else None, subschema(schema, k), v,
                                text.get(k) if isinstance(text, dict) else None) for k, v in typed.items()}
    if not isinstance(typed, str) and isinstance(text, str) and _declared_string(schema, defaults):
        return text
    return typed


def _paths(tree: dict, prefix: KeyPath = ()) -> list[KeyPath]:
    """Every leaf's key path (a mapping given empty counts as a leaf)."""
    found: list[KeyPath] = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            found += _paths(value, prefix + (key,))
        else:
            found.append(prefix + (key,))
    return found


@dataclass
class Merged:
    """The values after every layer, and which value paths a user gave (with the origin that gave them last)."""

    values: dict
    given: dict[KeyPath, str] = field(default_factory=dict)

    def origin_of(self, path: KeyPath) -> str | None:
        for length in range(len(path), 0, -1):
            if path[:length] in self.given:
                return self.given[path[:length]]
        return None


def apply_overrides(defaults: dict, files: list[Path], sets: list[str], images_files: list[Path] | tuple = (),
                    schema: dict | None = None) -> Merged:
    """Merge images files, values files, then --set assignments over defaults, reporting every problem at once."""
    problems: list[str] = []
    merged = Merged(defaults)
    layers = [_images_layer(path, defaults.get("images", {})) for path in images_files]
    layers += [_file_layer(path, "values file") for path in files]
    layers += [_set_layer(item) for item in sets]
    for layer in layers:
        values = _as_declared(defaults, schema, layer.typed, layer.text)
        found = check_overrides(defaults, values, layer.origin)
        problems += found
        if not found:
            merged.values = deep_merge(merged.values, values)
            merged.given.update({path: layer.origin for path in _paths(values)})
    if problems:
        raise SpecErrors(problems)
    return merged
