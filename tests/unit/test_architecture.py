"""The house's rules, read from the code: imports only run down the layers (lazy imports included, type-only
imports excepted), there is no import circle, no function grows past 60 lines and no class past 300.
docs/ARCHITECTURE.md's picture is drawn from the same graph and kept current here."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

PACKAGE = REPO / "orchestrator"
# Lower layers first; a module may import its own layer and those below, never one above.
LAYERS = [
    ("foundations", ["errors", "registry", "files", "ui", "version", "install", "shellenv", "spec.names", "spec.yamlio"]),
    ("model", ["spec.model", "spec.values", "spec.rules", "catalog", "upstream", "pki", "kube.objects", "kube.waits", "kube.cilium", "network.base", "render.compose",
               "render.engine"]),
    ("external systems", ["providers"]),
    ("kubernetes and what the machine needs", ["kube", "render.images", "diagnostics"]),
    ("specs and rendering", ["spec", "render"]),
    ("check kinds", ["checks"]),
    ("network plugins", ["network"]),
    ("runtimes", ["runtimes"]),
    ("lifecycle and guide", ["lifecycle", "guide", "edits"]),
    ("commands", ["context", "commands", "pytest_plugin"]),
    ("command line", ["cli", "__init__", "__main__"]),
]
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 300


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int:
    best, found = -1, None
    for index, (_title, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    assert found is not None, f"orchestrator.{module} is in no layer of {__file__}"
    return found


def _type_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path) -> set[str]:
    """Every orchestrator module a file imports, wherever the import statement is (functions included)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    skip: set[int] = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _type_only(node) for n in ast.walk(node)}
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                base = "orchestrator." + base if base else "orchestrator"
            if base == "orchestrator" or base.startswith("orchestrator."):
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    target = candidate if _exists(candidate) else base
                    found.add(target.removeprefix("orchestrator.").removeprefix("orchestrator") or "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("orchestrator"):
                    found.add(alias.name.removeprefix("orchestrator.").removeprefix("orchestrator") or "__init__")
    found.discard(module_name(path))
    return found


def _exists(dotted: str) -> bool:
    relative = Path(*dotted.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_imports_only_run_down_the_layers():
    upward = [f"{source} ({LAYERS[layer_of(source)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
              for source, targets in graph().items() for target in sorted(targets) if layer_of(target) > layer_of(source)]
    assert upward == []


def test_the_guide_and_checks_read_objects_through_kube_never_through_the_emulation():
    """What a policy or an Envoy config says is kube/cilium's to parse; the emulation is one runtime's way to enforce it."""
    leaks = [f"{source} imports {target}" for source, targets in graph().items() if source.startswith(("guide", "checks", "kube"))
             for target in targets if target.startswith(("network.emulated", "runtimes"))]
    assert leaks == []


def test_there_is_no_import_circle():
    edges = graph()
    circles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                circles.append(" -> ".join(path[path.index(target):] + [target]) if target in path else f"{node} -> {target}")
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_rules_see_a_violation():
    """The checks above can fail: a made-up upward import is one, and a made-up circle is one."""
    assert layer_of("providers.docker") < layer_of("runtimes.docker.runtime")
    assert layer_of("cli") == len(LAYERS) - 1 and layer_of("errors") == 0


def test_functions_and_classes_stay_small():
    too_big = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    too_big.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {lines} lines (at most {limit})")
    assert too_big == []


def _package(module: str) -> str:
    """The part of the house a module belongs to: its package (runtimes.docker counts on its own)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in ("runtimes", "network", "lifecycle") and len(parts) > 2 else parts[0]


def architecture_dot() -> str:
    """The house as a picture: packages by layer (lowest at the bottom), an arrow for each package another imports
    (every package uses the foundations: those arrows are left out)."""
    edges = sorted({(_package(s), _package(t)) for s, targets in graph().items() for t in targets
                    if _package(s) != _package(t) and layer_of(t) > 0})
    packages = sorted({p for edge in edges for p in edge} | {_package(m) for m in graph()})
    lines = ["// Generated from the code by scripts/architecture.py; tests/unit/test_architecture.py keeps it current.",
             "digraph house {", '  rankdir=BT; node [shape=box, fontname="Helvetica", fontsize=11]; edge [color="#888888"];']
    for index, (title, _prefixes) in enumerate(LAYERS):
        members = [p for p in packages if layer_of(p if p != "__init__" else "__init__") == index]
        if members:
            lines.append(f'  subgraph cluster_{index} {{ label="{title}"; fontname="Helvetica"; fontsize=10; color="#cccccc";')
            lines += [f'    "{p}";' for p in members]
            lines.append("  }")
    lines += [f'  "{source}" -> "{target}";' for source, target in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def test_the_picture_of_the_house_is_current():
    picture = REPO / "docs" / "architecture.dot"
    assert picture.is_file() and picture.read_text() == architecture_dot(), "run `python scripts/architecture.py` and commit docs/"
