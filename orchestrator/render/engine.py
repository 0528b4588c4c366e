"""The one Jinja environment: StrictUndefined, lab templates before shared ones, deterministic output."""

from __future__ import annotations

import base64
import ipaddress
import json
from pathlib import Path
from typing import Any, Callable

import jinja2
import yaml

from orchestrator.errors import BadInput


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
                     autoescape: bool | Callable[[str | None], bool] = False) -> jinja2.Environment:
    """The one way templates are rendered: StrictUndefined, the lab filters; autoescape for the tool's HTML."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search_path if p.is_dir()]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=autoescape,
    )
    env.filters.update(b64=b64, to_yaml=to_yaml, to_json=to_json, subnet_host=subnet_host)
    if globals_:
        env.globals.update(globals_)
    return env


def _describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined value: {exc.message}"
    return getattr(exc, "message", None) or str(exc)


def render_template(env: jinja2.Environment, name: str, context: dict) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise BadInput(f"template not found: {exc.name}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise BadInput(f"{exc.filename or name}:{exc.lineno}: template syntax error: {exc.message}") from None
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


def render_string(env: jinja2.Environment, text: str, context: dict, where: str, *, shared: bool = False) -> str:
    """Render one string; with shared=True the context mapping is used as is (not copied), so a lazy
    mapping resolves only the names the string uses."""
    try:
        template = env.from_string(text)
        if not shared:
            return template.render(context)
        return env.concat(template.root_render_func(template.new_context(context, shared=True)))
    except BadInput:
        raise
    except RecursionError:
        raise BadInput(f"{where}: nested too deeply") from None
    except Exception as exc:
        raise BadInput(f"{where}: {_describe(exc)}") from None


def lab_environment(lab_dir: Path, pem: Callable[[str], str] | None = None) -> jinja2.Environment:
    """The environment every lab template renders in: the lab's templates/ before the shared ones, and
    `pem(name)` reading a file of the lab's PKI when rendering artifacts."""
    from orchestrator.catalog import shared_templates_dir

    return make_environment([lab_dir / "templates", shared_templates_dir()], {"pem": pem} if pem else None)
