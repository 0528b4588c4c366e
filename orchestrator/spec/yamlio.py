"""Reading YAML the user wrote: bounded in size and alias expansion, duplicate keys refused, every error
naming the file and the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import BadInput

MAX_FILE_BYTES = 1024 * 1024  # a lab spec or values file is hand-written: 1 MiB is plenty
MAX_NODES = 200_000  # nodes after alias expansion: a "billion laughs" document stops here
TOO_DEEP = "not accepted: nested too deeply"  # whichever refuses it: libyaml 0.2.6's own limit, or Python's recursion
# libyaml's parser where PyYAML was built with it: the pure-Python one spends a few hundred ms of CPU on the lab
# schema and spec at every command, while a lab's API server boots.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


def parse_yaml(text: str, origin: str) -> Any:
    """One YAML document from text the user wrote; origin names it in errors."""
    try:
        loader = _LOADER(text)  # refuses control characters at once
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


def read_yaml(path: Path, what: str) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadInput(f"{path}: {what} is {size} bytes; at most {MAX_FILE_BYTES} are accepted")
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read {what}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput(f"{path}: {what} is not UTF-8 text (line {line}, byte {exc.start})") from None
    return parse_yaml(text, str(path))
