"""Reading YAML the user wrote: bounded in size and alias expansion, duplicate keys refused, every error
naming the file and the line. What the user wrote (specs, values and images files) is read by YAML 1.2's core
schema, so a scalar means what was typed: `1.10` is not `1.1`'s twin through a float only when the schema asks
for a number, `0777` is not octal, `on` and `8:03` are text. The tool's own YAML (rendered manifests, pinned
upstream files) keeps PyYAML's reading, as Kubernetes' own YAML library reads it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import BadInput
from orchestrator.files import MAX_INPUT_BYTES, read_text_bounded

MAX_FILE_BYTES = MAX_INPUT_BYTES  # a lab spec or values file is hand-written: 1 MiB is plenty
MAX_NODES = 200_000  # nodes after alias expansion: a "billion laughs" document stops here
TOO_DEEP = "not accepted: nested too deeply"  # whichever refuses it: libyaml 0.2.6's own limit, or Python's recursion
# libyaml's parser where PyYAML was built with it: the pure-Python one spends a few hundred ms of CPU on the lab
# schema and spec at every command, while a lab's API server boots.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Core12Loader(_LOADER):
    """YAML 1.2's core schema: null, true/false, decimal, 0o octal and 0x hex integers, floats with `.inf`/`.nan`;
    everything else plain is text. (PyYAML reads YAML 1.1: `on` is true, `0777` is 511, `8:03` is 483.)"""

    yaml_implicit_resolvers: dict = {}


class TextLoader(_LOADER):
    """Every plain scalar as the text typed: where a value's schema says string, this is what the user meant."""

    yaml_implicit_resolvers: dict = {}


def _core12_int(loader, node) -> int:
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
):
    Core12Loader.add_implicit_resolver(_tag, re.compile(_pattern), _first)
TextLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])
Core12Loader.add_constructor("tag:yaml.org,2002:int", _core12_int)


def yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return (f"line {mark.line + 1}: {problem}" if mark else problem)[:300]


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes the document holds once every alias is expanded, computed without expanding anything."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias counts once; PyYAML's constructor handles the recursion itself
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, memo) for item in node.value)
    else:
        size = 1
    memo[key] = size
    return size


STRING_TAG = "tag:yaml.org,2002:str"


def _key_problem(node: yaml.Node, seen_nodes: set[int]) -> str | None:
    """A duplicate key, or a key that is not a string (specs and values are JSON-shaped: keys are names)."""
    if id(node) in seen_nodes:
        return None
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key, yaml.ScalarNode) or key.tag != STRING_TAG:
                shown = key.value[:40] if isinstance(key, yaml.ScalarNode) else "a " + type(key).__name__.replace("Node", "").lower()
                return f"line {key.start_mark.line + 1}: key {shown!r} is not a string (quote it)"
            if isinstance(key, yaml.ScalarNode):
                if key.value in first_line:
                    return (f"line {key.start_mark.line + 1}: duplicate key '{key.value[:80]}' "
                            f"(first at line {first_line[key.value]})")
                first_line[key.value] = key.start_mark.line + 1
            found = _key_problem(value, seen_nodes)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found = _key_problem(item, seen_nodes)
            if found:
                return found
    return None


def parse_yaml(text: str, origin: str, loader_class=Core12Loader) -> Any:
    """One YAML document from text the user wrote; origin names it in errors."""
    try:
        loader = loader_class(text)  # refuses control characters at once
    except yaml.YAMLError as exc:
        raise BadInput(f"{origin}: not valid YAML: {yaml_problem(exc)}") from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            if "maximum nesting depth" in str(exc):  # libyaml 0.2.6 refuses depth itself; older ones leave it to us
                raise BadInput(f"{origin}: {TOO_DEEP}") from None
            raise BadInput(f"{origin}: not valid YAML: {yaml_problem(exc)}") from None
        except RecursionError:
            raise BadInput(f"{origin}: {TOO_DEEP}") from None
        if node is None:
            return None
        try:
            too_big = _expanded_size(node, {}) > MAX_NODES
            duplicate = _key_problem(node, set())
        except RecursionError:
            raise BadInput(f"{origin}: {TOO_DEEP}") from None
        if too_big:
            raise BadInput(f"{origin}: not accepted: more than {MAX_NODES} values once its aliases are expanded")
        if duplicate:
            raise BadInput(f"{origin}: not valid YAML: {duplicate}")
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise BadInput(f"{origin}: not valid YAML: {yaml_problem(exc)}") from None
        except RecursionError:
            raise BadInput(f"{origin}: {TOO_DEEP}") from None
    finally:
        loader.dispose()


def load_all(text: str | bytes) -> list[Any]:
    """Every document of YAML the tool made or pinned (rendered manifests and charts, upstream artifacts)."""
    return list(yaml.load_all(text, Loader=_LOADER))


def load(text: str | bytes) -> Any:
    return yaml.load(text, Loader=_LOADER)


def read_yaml(path: Path, what: str, loader_class=Core12Loader) -> Any:
    return parse_yaml(read_text_bounded(path, what, MAX_FILE_BYTES), str(path), loader_class)


def read_yaml_as_typed(path: Path, what: str) -> tuple[Any, Any]:
    """The document as YAML 1.2 reads it, and the same document with every plain scalar as the text typed."""
    text = read_text_bounded(path, what, MAX_FILE_BYTES)
    return parse_yaml(text, str(path)), parse_yaml(text, str(path), TextLoader)
