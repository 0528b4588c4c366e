"""The one Jinja environment: sandboxed, StrictUndefined, lab templates before shared ones, deterministic output.

Lab folders are untrusted input, so every template (a lab's and the tool's own) renders in `LabSandbox`, an
`ImmutableSandboxedEnvironment` whose work is bounded per render: loop iterations and calls are counted,
strings and lists a template builds are size-checked before they are built, the output is capped, and the
globals a template gets are the plain ones (no `lipsum`, `cycler` or `joiner`). Templates are read through a
loader that keeps every name inside its folder and reads regular files of bounded size only. What a template
reads of the lab's PKI goes through `pem()`, which knows only the files the lab issues.
"""

from __future__ import annotations

import base64
import contextvars
import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import jinja2
import yaml
from jinja2 import nodes
from jinja2.visitor import NodeTransformer
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from orchestrator.errors import BadInput
from orchestrator.files import child, read_text_bounded

MAX_ITERATIONS = 200_000  # loop iterations in one render (every lab template needs a few hundred)
MAX_CALLS = 50_000  # calls of functions, macros and methods in one render
MAX_BUILT = 1024 * 1024  # characters (or items) of a string or list a template builds
MAX_OUTPUT = 8 * 1024 * 1024  # characters one render writes
MAX_POWER_BITS = 4096
# A width or precision of five digits or more in a format spec builds a string that large at once.
_WIDE_PERCENT = re.compile(r"%[-#0 +]*(\*|\d{5,})|%[-#0 +]*\d*\.(\*|\d{5,})")
_WIDE_BRACE = re.compile(r"\{[^{}]*:[^{}]*(\{|\d{5,})")


class TooMuchWork(SecurityError):
    """A template asked for more than a lab template ever needs (a runaway loop, a string of gigabytes)."""


@dataclass
class Budget:
    iterations: int = 0
    calls: int = 0

    def iterate(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise TooMuchWork(f"more than {MAX_ITERATIONS} loop iterations")

    def call(self) -> None:
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise TooMuchWork(f"more than {MAX_CALLS} calls")


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("lab_render_budget", default=None)


def _budget() -> Budget:
    budget = _BUDGET.get()
    if budget is None:  # a render outside render_template/render_string still counts, from here on
        budget = Budget()
        _BUDGET.set(budget)
    return budget


class _Rendering:
    """One top-level render's budget; a render nested in it (a value template naming another) shares it."""

    def __enter__(self):
        self.token = _BUDGET.set(Budget()) if _BUDGET.get() is None else None
        return self

    def __exit__(self, *exc) -> None:
        if self.token is not None:
            _BUDGET.reset(self.token)


def _sized(value: Any) -> Any:
    if isinstance(value, (str, list, tuple, dict)) and len(value) > MAX_BUILT:
        raise TooMuchWork(f"builds a value of more than {MAX_BUILT} characters or items")
    return value


def _bounded_iteration(value: Any) -> Iterator[Any]:
    budget = _budget()
    for item in value:
        budget.iterate()
        yield item


def _size_of(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else 1


def _check_format(fmt: Any) -> None:
    if isinstance(fmt, str) and (_WIDE_PERCENT.search(fmt) or _WIDE_BRACE.search(fmt)):
        raise TooMuchWork("a format width or precision of 10000 or more")


class _Bounded(NodeTransformer):
    """Every `for` iterates through the budget; every `~` concatenation is size-checked."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_lab_iterate", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, "_lab_sized", [], [], None, None, lineno=node.lineno)


def _guard_filter(func: Callable) -> Callable:
    """A filter whose numeric arguments (widths, counts) stay below what builds a string of MAX_BUILT, and whose
    result is size-checked."""
    import functools

    from jinja2.utils import _PassArg

    skip = 1 if _PassArg.from_obj(func) is None else 2  # the value filtered (after a context, when passed one)

    @functools.wraps(func)
    def guarded(*args, **kwargs):
        for arg in list(args[skip:]) + list(kwargs.values()):
            if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_BUILT:
                raise TooMuchWork(f"a filter argument of {arg}")
        return _sized(func(*args, **kwargs))

    return guarded


def _replace_filter(original):
    def replace(eval_ctx, value, old, new, count=None):
        _check_replace(str(value), str(old), str(new), count)
        return original(eval_ctx, value, old, new, count)

    replace.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return replace


def _check_replace(text: str, old: str, new: str, count: int | None) -> None:
    hits = len(text) + 1 if old == "" else text.count(old)
    if count is not None and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * max(0, len(new) - len(old)) > MAX_BUILT:
        raise TooMuchWork(f"a replace() that builds more than {MAX_BUILT} characters")


def _join_filter(original):
    def join(eval_ctx, value, d="", attribute=None):
        items = list(_bounded_iteration(value))
        if sum(_size_of(i) for i in items) + len(items) * len(str(d)) > MAX_BUILT:
            raise TooMuchWork(f"a join() that builds more than {MAX_BUILT} characters")
        return original(eval_ctx, items, d, attribute)

    join.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return join


def _check_indent(text: str, width: Any) -> None:
    per_line = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    if len(text) + text.count("\n") * max(per_line, 0) > MAX_BUILT:
        raise TooMuchWork(f"an indent that builds more than {MAX_BUILT} characters")


def _indent_filter(original):
    def indent(s, width=4, first=False, blank=False):
        _check_indent(str(s), width)
        return original(s, width, first, blank)

    return indent


def _format_filter(original):
    def format(value, *args, **kwargs):
        _check_format(value)
        return _sized(original(value, *args, **kwargs))

    return format


# str methods that build a string from sizes given as arguments: not for templates (the filters do the same, bounded)
_UNSAFE_STR_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs"}


class LabSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for unneeded in ("lipsum", "cycler", "joiner"):
            self.globals.pop(unneeded, None)
        for name, func in list(self.filters.items()):
            self.filters[name] = _guard_filter(func)
        self.filters["replace"] = _replace_filter(jinja2.filters.do_replace)
        self.filters["join"] = _join_filter(jinja2.filters.do_join)
        self.filters["format"] = _format_filter(jinja2.filters.do_format)
        self.filters["indent"] = _indent_filter(jinja2.filters.do_indent)
        self.filters["_lab_iterate"] = _bounded_iteration
        self.filters["_lab_sized"] = _sized
        self._strings: dict[str, jinja2.Template] = {}
        self._expressions: dict[str, Callable[..., Any]] = {}

    def string_template(self, text: str) -> jinja2.Template:
        """A templated string compiled once per environment: a spec repeats the same few (`{{ haproxy.ip }}`), and
        compiling is most of the cost of rendering one."""
        if text not in self._strings:
            self._strings[text] = self.from_string(text)
        return self._strings[text]

    def expression(self, text: str) -> Callable[..., Any]:
        if text not in self._expressions:
            self._expressions[text] = self.compile_expression(text)
        return self._expressions[text]

    def _generate(self, source, name, filename, defer_init=False):
        if isinstance(source, nodes.Template):
            source = _Bounded().visit(source)
        return super()._generate(source, name, filename, defer_init)

    def call_binop(self, context, op: str, left: Any, right: Any) -> Any:
        if op == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * max(times, 0) > MAX_BUILT:
                    raise TooMuchWork(f"builds a value of more than {MAX_BUILT} characters or items")
        elif op == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and max(abs(left), 2).bit_length() * right > MAX_POWER_BITS:
                raise TooMuchWork(f"a power of more than {MAX_POWER_BITS} bits")
        elif op == "%":
            _check_format(left)
        elif op == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _sized(left), _sized(right)
            if len(left) + len(right) > MAX_BUILT:
                raise TooMuchWork(f"builds a value of more than {MAX_BUILT} characters or items")
        return _sized(self.binop_table[op](left, right))

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 — Jinja's own signature
        _budget().call()
        return super().call(__context, __obj, *args, **kwargs)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _UNSAFE_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self._guard_method(obj, attribute, super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._guard_method(obj, argument, super().getitem(obj, argument))

    @staticmethod
    def _guard_method(obj: Any, name: Any, value: Any) -> Any:
        """`str.replace` and `str.join` checked for the size they would build before they build it."""
        if isinstance(obj, str) and name == "replace":
            def replace(old, new, count=-1):
                _check_replace(obj, str(old), str(new), count)
                return obj.replace(old, new, count)

            return replace
        if isinstance(obj, str) and name == "join":
            def join(items):
                items = list(_bounded_iteration(items))
                if sum(_size_of(i) for i in items) + len(items) * len(obj) > MAX_BUILT:
                    raise TooMuchWork(f"a join() that builds more than {MAX_BUILT} characters")
                return obj.join(items)

            return join
        return value

    def wrap_str_format(self, value: Any):
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_format(value.__self__)

        def bounded(*args, **kwargs):
            return _sized(wrapped(*args, **kwargs))

        return bounded


class BoundedLoader(jinja2.BaseLoader):
    """Templates by relative name from folders in order; a name never leaves its folder (no absolute path, no
    `..`, no symlink out), and only a regular file of at most 1 MiB is read."""

    def __init__(self, search_path: Iterable[Path]):
        self.search_path = [p for p in search_path if p.is_dir()]

    def get_source(self, environment, template: str):
        for root in self.search_path:
            candidate = root / template
            if not (candidate.exists() or candidate.is_symlink()):
                continue
            path = child(root, template, f"template {template[:120]}")
            source = read_text_bounded(path, "template")
            return source, str(path), lambda: True
        raise jinja2.TemplateNotFound(template)


def b64(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return base64.b64encode(data).decode("ascii")


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (PEM, configs) as `|` blocks; never YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_BlockDumper.add_representer(str, _str_presenter)


def to_yaml(value: Any, indent: int = 0) -> str:
    """YAML dump that nests correctly: `{{ x | to_yaml(4) }}` indents every line after the first by 4."""
    text = yaml.dump(value, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False, width=4096).rstrip("\n")
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    if indent:
        _check_indent(text, indent)
        text = text.replace("\n", "\n" + " " * indent)
    return text


def to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, sort_keys=indent is not None)


def subnet_host(subnet: str, index: int) -> str:
    """The index-th address of a subnet; negative counts back from the broadcast (-2 → x.x.255.253 in a /16)."""
    network = ipaddress.ip_network(subnet, strict=False)
    try:
        address = network.broadcast_address + index if index < 0 else network.network_address + index
    except ValueError:
        raise ValueError(f"host {index} is outside {subnet}") from None
    if address not in network or (network.version == 4 and address in (network.network_address, network.broadcast_address)):
        raise ValueError(f"host {index} is outside {subnet}")
    return str(address)


def make_environment(search_path: list[Path], globals_: dict[str, Callable[..., Any]] | None = None,
                     autoescape: bool | Callable[[str | None], bool] = False) -> LabSandbox:
    """The one way templates are rendered: sandboxed with bounded work, StrictUndefined, the lab filters;
    autoescape for the tool's HTML."""
    env = LabSandbox(
        loader=BoundedLoader(search_path),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=autoescape,
    )
    for name, func in dict(b64=b64, to_yaml=to_yaml, to_json=to_json, subnet_host=subnet_host).items():
        env.filters[name] = _guard_filter(func)
    if globals_:
        env.globals.update(globals_)
    return env


def _describe(exc: Exception) -> str:
    if isinstance(exc, TooMuchWork):
        return f"does too much work: {exc}"
    if isinstance(exc, SecurityError):
        return f"not allowed in a template: {exc}"
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined value: {exc.message}"
    return (getattr(exc, "message", None) or str(exc))[:300]


def _render(template: jinja2.Template, context: dict, shared: bool) -> str:
    """The template's output, piece by piece, stopped once it passes MAX_OUTPUT."""
    ctx = template.new_context(context, shared=shared)
    pieces, size = [], 0
    try:
        for piece in template.root_render_func(ctx):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise TooMuchWork(f"writes more than {MAX_OUTPUT} characters")
            pieces.append(piece)
    except Exception:
        if shared:  # a lazy context: rewriting the traceback would read (resolve) every name in it
            raise
        template.environment.handle_exception()  # the traceback rewritten to the template's own lines
    return template.environment.concat(pieces)  # type: ignore[attr-defined]


def render_template(env: jinja2.Environment, name: str, context: dict) -> str:
    try:
        with _Rendering():
            return _render(env.get_template(name), context, shared=False)
    except BadInput:
        raise
    except jinja2.TemplateNotFound as exc:
        raise BadInput(f"template not found: {exc.name}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise BadInput(f"{exc.filename or name}:{exc.lineno}: template syntax error: {exc.message}") from None
    except RecursionError:
        raise BadInput(f"{name}: nested too deeply") from None
    except Exception as exc:  # errors raised while rendering: locate the line in the template
        line = _template_line(exc, name)
        raise BadInput(f"{name}:{line}: {_describe(exc)}") from None


def _template_line(exc: Exception, name: str) -> str:
    """Jinja rewrites tracebacks so template frames carry the template's file name and line."""
    tb, line = exc.__traceback__, "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(name):
            line = str(tb.tb_lineno)
        tb = tb.tb_next
    return line


def render_string(env: LabSandbox, text: str, context: dict, where: str, *, shared: bool = False) -> str:
    """Render one string; with shared=True the context mapping is used as is (not copied), so a lazy
    mapping resolves only the names the string uses."""
    try:
        with _Rendering():
            return _render(env.string_template(text), context, shared)
    except BadInput:
        raise
    except RecursionError:
        raise BadInput(f"{where}: nested too deeply") from None
    except Exception as exc:
        raise BadInput(f"{where}: {_describe(exc)}") from None


def evaluate(env: LabSandbox, expression: str, context: dict) -> Any:
    """One expression's value (not its text), in the sandbox with its budget."""
    with _Rendering():
        return env.expression(expression)(**context)


def lab_environment(lab_dir: Path, pem: Callable[[str], str] | None = None) -> LabSandbox:
    """The environment every lab template renders in: the lab's templates/ before the shared ones, and
    `pem(name)` reading a file of the lab's PKI when rendering artifacts."""
    from orchestrator.catalog import shared_templates_dir

    return make_environment([lab_dir / "templates", shared_templates_dir()], {"pem": pem} if pem else None)
