"""Load a lab spec: defaults → overrides → resolve templated values → validate, every problem at once.

The schema of checks and waits is not written here: each check kind and wait kind owns its fragment,
and the loader assembles the lab schema from the registries it is handed.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import math
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from orchestrator.catalog import LabEntry, shared_templates_dir
from orchestrator.errors import BadInput, SpecErrors
from orchestrator.render.engine import evaluate, lab_environment, render_string
from orchestrator.spec.model import (
    PKI_SOURCE,
    derived_stages,
    named_stages,
    DEFAULT_ALGORITHM,
    Artifact,
    DEFAULT_CHART_WAIT_TIMEOUT,
    DEFAULT_NETWORK,
    DEFAULT_SUBNET,
    CASpec,
    CertSpec,
    Chart,
    Lab,
    Network,
    Omission,
    PkiSpec,
    Step,
    UpstreamManifest,
    Wait,
)
from orchestrator.spec.names import instance_name
from orchestrator.spec.rules import SpecView
from orchestrator.spec.values import apply_overrides, subschema as _subschema
from orchestrator.spec.yamlio import read_yaml

DNS_NAME = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$", re.I)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")
# The reference grammar of distribution/reference, without the rarely used IPv6 registry form.
IMAGE_REF = re.compile(
    r"^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
MAX_VALUE_LENGTH = 4096


# ---------------------------------------------------------------- schema, assembled from the registries

@functools.cache
def _base_schema() -> dict:
    """The static part, read once per process (spec_schema copies it before adding to it)."""
    return read_yaml(Path(__file__).parent / "schema.yaml", "lab schema")


def spec_schema(checks, waits, steps, runtimes) -> dict:
    """The lab schema: the static part plus every step kind's, check kind's and wait kind's own fragment, the
    runtimes' names and the image roles they declare."""
    schema = copy.deepcopy(_base_schema())
    defs = schema["$defs"]
    runtime_names = runtimes.names()
    schema["properties"]["runtimes"]["items"] = {"enum": runtime_names}
    schema["properties"]["imageRoles"]["properties"] = {role.name: {"type": "array", "items": {"type": "string"}} for role in runtimes.roles()}
    step = defs["step"]
    for kind in steps:
        step["properties"][kind.name] = copy.deepcopy(kind.schema)

    check = defs["check"]
    check["properties"]["type"] = {"enum": checks.names()}
    check["properties"]["runtimes"] = {"type": "array", "items": {"enum": runtime_names}}
    common = dict(check["properties"])
    check["allOf"] = []
    for kind in checks:
        properties = {**common, **kind.params, "expect": {"type": "object", "additionalProperties": False, "properties": kind.expect}}
        if not kind.runs_in_pod:
            properties.pop("from")
        check["allOf"].append({"if": {"properties": {"type": {"const": kind.name}}, "required": ["type"]},
                               "then": {"required": list(kind.required), "properties": properties, "additionalProperties": False}})

    wait = defs["wait"]
    wait["properties"]["for"] = {"enum": waits.names()}
    common = dict(wait["properties"])
    wait["allOf"] = [{"if": {"properties": {"for": {"const": kind.name}}, "required": ["for"]},
                      "then": {"required": list(kind.required), "properties": {**common, **kind.params}, "additionalProperties": False}}
                     for kind in waits]
    return schema


_VALIDATORS: dict[tuple, Any] = {}
_SCHEMAS: dict[tuple, dict] = {}


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _validator(checks, waits, steps, runtimes, *, lenient: bool):
    """The spec validator. Lenient: before templated strings are rendered, their patterns cannot be judged
    (they are, on the rendered spec, with the strict validator)."""
    import jsonschema

    kinds = (tuple(checks.names()), tuple(waits.names()), tuple(steps.names()), tuple(runtimes.names()), id(checks), id(waits), id(steps),
             id(runtimes))
    key = (*kinds, lenient)
    if key not in _VALIDATORS:
        strict = jsonschema.Draft202012Validator
        chosen = strict
        if lenient:
            def pattern(validator, value, instance, schema):
                if not _templated(instance):
                    yield from strict.VALIDATORS["pattern"](validator, value, instance, schema)

            def types(validator, value, instance, schema):
                # "{{ haproxy.port }}" where an integer is wanted; a template renders to a scalar, never a mapping
                # or a list, so where only those are wanted it is judged (else a oneOf sees both branches pass).
                scalar = set([value] if isinstance(value, str) else value) - {"object", "array"}
                if not (_templated(instance) and scalar):
                    yield from strict.VALIDATORS["type"](validator, value, instance, schema)

            chosen = jsonschema.validators.extend(strict, {"pattern": pattern, "type": types})
        if kinds not in _SCHEMAS:  # one schema for both validators (neither changes it)
            _SCHEMAS[kinds] = spec_schema(checks, waits, steps, runtimes)
        _VALIDATORS[key] = chosen(_SCHEMAS[kinds])
    return _VALIDATORS[key]


def _field(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


FORMAT_MEANING = {
    "network-host": "an IPv4 address inside network.subnet, not its network, gateway or broadcast address",
    "network-range": "first-last or a CIDR inside network.subnet, clear of its network, gateway and broadcast addresses",
    "host-port": "host:port, the host a DNS name or an IP address, the port 1-65535",
    "docker-network": "a Docker network name other than Docker's own host, none and bridge",
    "dns-name": "a DNS name (labels of letters, digits and inner dashes; `*.` first for a wildcard)",
}


def _message(error) -> str:
    if error.validator == "format" and error.validator_value in FORMAT_MEANING:
        shown = repr(error.instance[:57] + "...") if isinstance(error.instance, str) and len(error.instance) > 60 else repr(error.instance)
        return f"{shown} is not a '{error.validator_value}' ({FORMAT_MEANING[error.validator_value]})"
    if error.validator == "enum":
        return "must be one of " + ", ".join(str(v) for v in error.validator_value)
    if error.validator == "additionalProperties":
        unexpected = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return "unknown field " + ", ".join(f"'{u[:60]}'" for u in unexpected[:5]) + (" ..." if len(unexpected) > 5 else "")
    if error.validator in ("maxLength", "pattern", "format") and isinstance(error.instance, str) and len(error.instance) > 60:
        shown = repr(error.instance[:57] + "...")
        return {"maxLength": f"{shown} is longer than {error.validator_value} characters",
                "pattern": f"{shown} does not match {error.validator_value}",
                "format": f"{shown} is not a valid {error.validator_value}"}[error.validator]
    return error.message[:300]


def _leaf_errors(errors):
    """jsonschema reports an if/then failure on the parent: show the errors that say where."""
    for error in errors:
        if error.validator in ("allOf", "anyOf", "oneOf") and error.context:
            yield from _leaf_errors(error.context)
        else:
            yield error


def schema_problems(raw: dict, origin: str, validator, broken: set[str] | None = None) -> list[str]:
    """Every schema problem, one line each; `broken` collects the top-level sections that have one."""
    problems = []
    for error in sorted(_leaf_errors(validator.iter_errors(raw)), key=lambda e: [str(p) for p in e.absolute_path]):
        line = f"{origin}: {_field(error.absolute_path)}: {_message(error)}"
        if line not in problems:
            problems.append(line)
        if broken is not None and error.absolute_path:
            broken.add(str(error.absolute_path[0]))
        elif broken is not None and error.validator == "required":  # a missing top-level section
            broken.update(set(error.validator_value) - set(error.instance))
    return problems


# ---------------------------------------------------------------- cross-field rules (on a schema-valid spec)

def _template_problem(name: str, lab_dir: Path) -> str | None:
    """Why a template of the lab's (or a shared one) cannot be used by that relative name, or None when it can."""
    from orchestrator.files import child

    for folder in (lab_dir / "templates", shared_templates_dir()):
        candidate = folder / name
        if not (candidate.exists() or candidate.is_symlink()) or name.startswith("/"):
            continue
        try:
            child(folder, name, f"template '{name[:120]}'")
        except BadInput as exc:
            return exc.message
        return None
    return f"template '{name[:120]}' not found in {lab_dir / 'templates'} or the shared templates"


def _template_exists(name: str, lab_dir: Path) -> bool:
    return _template_problem(name, lab_dir) is None


def _is_pki_file(name: str, cert_names: set[str]) -> bool:
    if name in ("ca.crt", "intermediate.crt", "ca-chain.crt"):
        return True
    return any(name in (f"{c}.crt", f"{c}.key", f"{c}-chain.crt", f"{c}.pem") for c in cert_names)


def semantic_problems(raw: dict, lab_dir: Path, origin: str, checks, steps, runtimes, broken: set[str] = frozenset()) -> list[str]:
    """Cross-field rules. Each group of rules runs only when the sections it reads passed the schema
    (`broken` names those that did not), so every independent problem is still reported at once."""
    found: list[tuple[str, str]] = []

    def sound(*sections: str) -> bool:
        return not broken.intersection(sections)

    if sound("name") and raw.get("name") != lab_dir.name:
        found.append(("name", f"must match the lab's folder name '{lab_dir.name}'"))
    if sound("manifests"):
        found += _manifest_rules(raw, lab_dir, check_runtimes=sound("runtimes"))
    if sound("cluster", "runtimes"):
        found += _cluster_rules(raw, lab_dir)
    if sound("imageRoles", "images", "runtimes"):
        found += _image_role_rules(raw, runtimes)
    if sound("cluster", "imageRoles", "runtimes"):
        found += [rule for name in raw["runtimes"] for rule in runtimes.get(name).spec_rules(raw)]
    if raw.get("stack") and sound("stack", "pki"):
        found += _stack_rules(raw, lab_dir)
    problems = [f"{origin}: {field}: {message}" for field, message in found]
    if sound("steps", "manifests", "runtimes"):
        cert_names = set(((raw.get("pki") or {}).get("certificates")) or {}) if sound("pki") else None
        problems += step_problems(raw, raw.get("steps", []), lab_dir, origin, checks, steps, cert_names)
    if raw.get("stages") is not None and sound("steps", "stages"):
        problems += stage_problems(raw, origin)
    return problems


def stage_problems(raw: dict, origin: str) -> list[str]:
    """Named stages partition the steps: each starts at a step of the lab, in the steps' order, the first at the
    first step, each name once."""
    steps = [s["name"] for s in raw.get("steps", [])]
    problems, seen, last = [], set(), -1
    for i, stage in enumerate(raw["stages"]):
        if stage["name"] in seen:
            problems.append(f"{origin}: stages.{i}.name: duplicate stage name '{stage['name']}'")
        seen.add(stage["name"])
        if stage["from"] not in steps:
            problems.append(f"{origin}: stages.{i}.from: no step is named '{stage['from']}'")
            continue
        start = steps.index(stage["from"])
        if i == 0 and start != 0:
            problems.append(f"{origin}: stages.0.from: the first stage starts at the first step, '{steps[0]}'")
        elif start <= last:
            problems.append(f"{origin}: stages.{i}.from: '{stage['from']}' is not after the previous stage's first step")
        last = max(last, start)
    return problems


def _manifest_rules(raw: dict, lab_dir: Path, *, check_runtimes: bool) -> list[tuple[str, str]]:
    found, artifacts = [], raw.get("artifacts", {})
    for group, templates in raw.get("manifests", {}).items():
        for i, entry in enumerate(templates):
            where = f"manifests.{group}.{i}"
            if not isinstance(entry, dict):
                if _template_problem(entry, lab_dir):
                    found.append((where, _template_problem(entry, lab_dir)))
                continue
            if entry["artifact"] not in artifacts:
                found.append((f"{where}.artifact", f"'{entry['artifact']}' is not one of the lab's artifacts ({', '.join(sorted(artifacts)) or 'none'})"))
            found += [(f"{where}.images.{key}", f"'{key}' is not one of the lab's images") for key in entry.get("images", {})
                      if key not in raw.get("images", {})]
            found += [(f"{where}.omit.{j}.runtimes", f"'{runtime}' is not one of the lab's runtimes") for j, omit in enumerate(entry.get("omit", []))
                      for runtime in omit["runtimes"] if check_runtimes and runtime not in raw["runtimes"]]
    return found


def _cluster_rules(raw: dict, lab_dir: Path) -> list[tuple[str, str]]:
    cluster, found, releases = raw.get("cluster", {}), [], set()
    artifacts = raw.get("artifacts", {})
    if cluster.get("kindConfig") and not _template_exists(cluster["kindConfig"], lab_dir):
        found.append(("cluster.kindConfig", f"template '{cluster['kindConfig']}' not found"))
    for i, chart in enumerate(cluster.get("charts", [])):
        if not _template_exists(chart["values"], lab_dir):
            found.append((f"cluster.charts.{i}.values", f"template '{chart['values']}' not found"))
        if chart.get("artifact") and chart["artifact"] not in artifacts:
            found.append((f"cluster.charts.{i}.artifact", f"'{chart['artifact']}' is not one of the lab's artifacts"))
        if chart["release"] in releases:
            found.append((f"cluster.charts.{i}.release", f"duplicate release '{chart['release']}'"))
        releases.add(chart["release"])
    emulated = cluster.get("emulated", {})
    found += [(f"cluster.emulated.crds.{i}", f"'{name}' is not one of the lab's artifacts ({', '.join(sorted(artifacts)) or 'none'})")
              for i, name in enumerate(emulated.get("crds", [])) if name not in artifacts]
    found += [(f"cluster.emulated.manifests.{i}", f"template '{name}' not found")
              for i, name in enumerate(emulated.get("manifests", [])) if not _template_exists(name, lab_dir)]
    return found


def _image_role_rules(raw: dict, runtimes) -> list[tuple[str, str]]:
    images, found = raw.get("images", {}), []
    single = {role.name for role in runtimes.roles() if role.single}
    for role, keys in raw.get("imageRoles", {}).items():
        found += [(f"imageRoles.{role}.{i}", f"'{key}' is not one of the lab's images ({', '.join(sorted(images)) or 'none'})")
                  for i, key in enumerate(keys) if key not in images]
        if role in single and len(keys) > 1:
            found.append((f"imageRoles.{role}", "names one image"))
    return found


def _stack_rules(raw: dict, lab_dir: Path) -> list[tuple[str, str]]:
    stack, found = raw["stack"], []
    if not _template_exists(stack["compose"], lab_dir):
        found.append(("stack.compose", f"template '{stack['compose']}' not found"))
    cert_names = set(raw.get("pki", {}).get("certificates", {}))
    for target, source in stack.get("files", {}).items():
        if Path(target).is_absolute() or ".." in Path(target).parts:
            found.append((f"stack.files.{target}", "must be a relative path inside the stack folder"))
        if source.startswith(PKI_SOURCE):
            if not _is_pki_file(source[len(PKI_SOURCE):], cert_names):
                found.append((f"stack.files.{target}", f"'{source[len(PKI_SOURCE):]}' is not a file the lab's PKI issues"))
        elif not _template_exists(source, lab_dir):
            found.append((f"stack.files.{target}", f"template '{source}' not found"))
    return found


def step_problems(raw: dict, step_list: list[dict], lab_dir: Path, origin: str, checks, steps, cert_names: set[str] | None) -> list[str]:
    """Each step: exactly one kind, a name of its own, runtimes of the lab's, and its kind's own rules."""
    cluster = raw.get("cluster") if isinstance(raw.get("cluster"), dict) else {}  # its own problems are the schema's
    releases = [c["release"] for c in cluster.get("charts", []) if isinstance(c, dict) and "release" in c] if isinstance(cluster.get("charts"), list) else []
    view = SpecView(raw, raw.get("manifests", {}), releases, raw["runtimes"],
                    cert_names, lambda name: _template_problem(name, lab_dir), lambda name: _is_pki_file(name, cert_names or set()), checks)
    problems, seen = [], set()
    for i, step in enumerate(step_list):
        kinds = [k for k in steps.names() if k in step]
        if len(kinds) != 1:
            problems.append(f"{origin}: steps.{i}: needs exactly one of " + ", ".join(steps.names()))
        if step["name"] in seen:
            problems.append(f"{origin}: steps.{i}.name: duplicate step name '{step['name']}'")
        seen.add(step["name"])
        problems += [f"{origin}: steps.{i}.runtimes: '{r}' is not one of the lab's runtimes" for r in step.get("runtimes", []) if r not in raw["runtimes"]]
        if len(kinds) == 1:
            problems += [f"{origin}: steps.{i}.{kinds[0]}{field}: {message}" for field, message in steps.get(kinds[0]).problems(step[kinds[0]], view)]
    return problems


def _nonfinite(tree: Any, origin: str, path: str = "") -> list[str]:
    """Every number in a spec is finite: `.nan` passes a range check (every comparison with it is false)."""
    if isinstance(tree, dict):
        return [p for k, v in tree.items() for p in _nonfinite(v, origin, f"{path}{k}.")]
    if isinstance(tree, list):
        return [p for i, v in enumerate(tree) for p in _nonfinite(v, origin, f"{path}{i}.")]
    if isinstance(tree, float) and not math.isfinite(tree):
        return [f"{origin}: {path.rstrip('.')}: {tree} is not a finite number"]
    return []


def _distinct_problems(values: dict, groups: list[list[str]], origin: str, given=lambda path: None) -> list[str]:
    """Each distinctValues group: every path names a value, and no two of them are equal."""
    problems = []
    for g, group in enumerate(groups):
        seen: dict[str, str] = {}
        for i, path in enumerate(group):
            node: Any = values
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                problems.append(f"{origin}: distinctValues.{g}.{i}: no value {path}")
                continue
            if str(node) in seen:
                where = given(tuple(path.split("."))) or origin
                problems.append(f"{where}: values.{path}: {node} is also {seen[str(node)]}; {', '.join(group)} must all differ")
            seen.setdefault(str(node), path)
    return problems


# ---------------------------------------------------------------- templated values, resolved lazily

class _Lazy(dict):
    """A mapping whose templated strings render on first access, so values may refer to each other in any
    order; a value that needs itself is a cycle, named with its path."""

    def __init__(self, data: dict, resolver: "_Resolver", path: tuple[str, ...]):
        super().__init__(data)
        self._resolver, self._path = resolver, path

    def __getitem__(self, key):
        return self._resolver.resolve(dict.__getitem__(self, key), self._path + (str(key),))

    def get(self, key, default=None):
        return self[key] if key in self else default

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def values(self):
        return [self[k] for k in self.keys()]

    def __iter__(self):
        return iter(self.keys())


class _Resolver:
    """Renders the lab's own templated values (in the sandbox); a value a user gave (`--set`, a values or images
    file) is data and is returned as given, whatever it holds."""

    def __init__(self, env, origin: str, extra: dict, given=lambda path: False):
        self.env, self.origin, self.extra, self.given = env, origin, extra, given
        self.stack: list[tuple[str, ...]] = []
        self.done: dict[tuple[str, ...], Any] = {}
        self.root: _Lazy | None = None

    def resolve(self, value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, dict):
            return _Lazy(value, self, path)
        if isinstance(value, list):
            return [self.resolve(v, path + (str(i),)) for i, v in enumerate(value)]
        if not isinstance(value, str) or ("{{" not in value and "{%" not in value) or self.given(path):
            return value
        if path in self.done:
            return self.done[path]
        dotted = ".".join(path)
        if path in self.stack:
            chain = " → ".join(".".join(p) for p in self.stack[self.stack.index(path):] + [path])
            raise BadInput(f"{self.origin}: values.{dotted}: refers to itself in a cycle ({chain})")
        self.stack.append(path)
        try:
            rendered = render_string(self.env, value, self.root, f"{self.origin}: values.{dotted}", shared=True)
        finally:
            self.stack.pop()
        self.done[path] = rendered
        return rendered

    def resolve_all(self, tree: dict) -> dict:
        # The root is handed to Jinja as is (not copied), so only what a template names gets resolved.
        self.root = _Lazy({**self.env.globals, **tree, **self.extra}, self, ())
        return {key: _plain(self.root[key]) for key in tree}


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(node[k]) for k in node}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _render_tree(env, tree: Any, context: dict, origin: str, prefix: str) -> Any:
    """Render every templated string of a spec section (pki, cluster, steps) once, over resolved values."""
    if isinstance(tree, dict):
        return {k: _render_tree(env, v, context, origin, f"{prefix}.{k}") for k, v in tree.items()}
    if isinstance(tree, list):
        return [_render_tree(env, v, context, origin, f"{prefix}.{i}") for i, v in enumerate(tree)]
    if isinstance(tree, str) and ("{{" in tree or "{%" in tree):
        native = _native_value(env, tree, context)
        return native if native is not None else render_string(env, tree, context, f"{origin}: {prefix}")
    return tree


_ONE_EXPRESSION = re.compile(r"^\{\{([^{}]*)\}\}$")


def _native_value(env, text: str, context: dict) -> int | float | bool | None:
    """A string that is one expression of a number or a boolean value keeps its type (`minDaysLeft: "{{ days }}"`
    stays an integer), as a value written in place would; anything else renders as text."""
    match = _ONE_EXPRESSION.match(text.strip())
    if not match:
        return None
    try:
        value = evaluate(env, match.group(1), context)
    except Exception:
        return None  # rendering as text reports the problem with its place
    return value if isinstance(value, (bool, int, float)) else None


# ---------------------------------------------------------------- values: form and range

RESERVED_NETWORKS = ("host", "none", "bridge")  # Docker's own networks: a lab never makes or removes them
HOST_PORT = re.compile(r"(?P<host>\[[0-9a-fA-F:.]+\]|[^:\[\]]+):(?P<port>[0-9]{1,5})")


def _host_port(value: str) -> bool:
    """`host:port`, the host a DNS name or an IP address ([v6] bracketed), the port 1-65535."""
    match = HOST_PORT.fullmatch(value)
    if not match or not 1 <= int(match["port"]) <= 65535:
        return False
    host = match["host"]
    if host.startswith("["):
        return _is(ipaddress.IPv6Address, host[1:-1])
    if host.replace(".", "").isdigit():
        return _is(ipaddress.IPv4Address, host)
    return len(host) <= 253 and bool(DNS_NAME.match(host)) and not host.startswith("*")


def _network_host(subnet: str | None):
    """An IPv4 address a container may be given on the lab's network: inside its subnet, and not the network's
    own address, its gateway (the first host, which Docker takes) or its broadcast address."""

    def check(value) -> bool:
        if not isinstance(value, str):
            return True
        try:
            address = ipaddress.IPv4Address(value)
            network = ipaddress.ip_network(subnet, strict=False) if subnet else None
        except ValueError:
            return False
        if network is None or network.version != 4:
            return True  # the subnet's own problem is reported on its own
        return address in network and address not in (network.network_address, network.network_address + 1, network.broadcast_address)

    return check


def _network_range(subnet: str | None):
    """Addresses for a load balancer's pool: `first-last` (first <= last) or a CIDR, inside the lab's subnet and
    clear of its network address, gateway and broadcast."""
    host = _network_host(subnet)

    def check(value) -> bool:
        if not isinstance(value, str):
            return True
        first, dash, last = value.partition("-")
        if dash:
            if not (_is(ipaddress.IPv4Address, first) and _is(ipaddress.IPv4Address, last)):
                return False
            return ipaddress.IPv4Address(first) <= ipaddress.IPv4Address(last) and host(first) and host(last)
        try:
            pool = ipaddress.IPv4Network(value, strict=True)
        except ValueError:
            return False
        if pool.num_addresses == 1:
            return host(str(pool.network_address))
        return host(str(pool.network_address)) and host(str(pool.broadcast_address))

    return check


def _formats(subnet: str | None = None):
    import jsonschema

    checker = jsonschema.FormatChecker()

    def text(check):
        return lambda v: not isinstance(v, str) or check(v)

    checker.checks("ip")(text(lambda v: _is(ipaddress.ip_address, v)))
    checker.checks("cidr")(text(lambda v: _is(lambda x: ipaddress.ip_network(x, strict=False), v)))
    checker.checks("ipv4-cidr")(text(lambda v: _is(lambda x: ipaddress.IPv4Network(x, strict=False), v)))
    checker.checks("port")(lambda v: not isinstance(v, (int, str)) or isinstance(v, bool) or (str(v).isdigit() and 1 <= int(v) <= 65535))
    checker.checks("dns-label")(text(lambda v: bool(DNS_LABEL.fullmatch(v))))
    checker.checks("dns-name")(text(lambda v: len(v) <= 253 and bool(DNS_NAME.fullmatch(v))))
    checker.checks("image")(text(lambda v: len(v) <= 512 and bool(IMAGE_REF.fullmatch(v))))
    checker.checks("docker-name")(text(lambda v: bool(DOCKER_NAME.fullmatch(v))))
    checker.checks("docker-network")(text(lambda v: bool(DOCKER_NAME.fullmatch(v)) and v not in RESERVED_NETWORKS))
    checker.checks("host-port")(text(_host_port))
    checker.checks("network-host")(_network_host(subnet))
    checker.checks("network-range")(_network_range(subnet))
    return checker


def _is(parse, value) -> bool:
    try:
        parse(value)
        return True
    except (ValueError, TypeError):
        return False


BUILTIN_VALUES_SCHEMA = {
    "type": "object",
    "properties": {
        "network": {"type": "object", "additionalProperties": False, "properties": {
            "name": {"type": "string", "format": "docker-network"}, "subnet": {"type": "string", "format": "cidr"}}},
        "images": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1, "format": "image"}},
        "versions": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 128,
                                                                 "pattern": "^[A-Za-z0-9][A-Za-z0-9._+-]*$"}},
    },
}


def values_schema(lab_schema: dict | None) -> dict:
    """The lab's values schema with the built-in values (network, images, versions) in it, to look a value's
    schema up by path (validation applies both, each whole)."""

    def merge(lab: Any, builtin: dict) -> dict:
        merged = {**builtin, **(lab if isinstance(lab, dict) else {})}
        if isinstance(lab, dict) and "properties" in builtin:
            mine = lab.get("properties") or {}
            merged["properties"] = {**builtin["properties"], **{k: merge(v, builtin["properties"][k]) if k in builtin["properties"] else v
                                                                  for k, v in mine.items()}}
        return merged

    return merge(lab_schema or {"type": "object"}, BUILTIN_VALUES_SCHEMA)


def _declares(schema: Any) -> bool:
    """A schema that says what a value is (a type, a format, a set of choices), not one that accepts anything."""
    return isinstance(schema, dict) and any(k in schema for k in ("type", "enum", "const", "format", "oneOf", "anyOf", "$ref"))


def unschemed_values(defaults: dict, lab_schema: dict | None, origin: str) -> list[str]:
    """Every value a lab declares has a schema: a value nothing describes accepts whatever a user types."""
    problems = []

    def walk(node: Any, schema: Any, path: str) -> None:
        if isinstance(node, dict) and not (isinstance(schema, dict) and schema.get("additionalProperties") not in (None, False, True)
                                          and not schema.get("properties")):
            for key, value in node.items():
                sub = _subschema(schema, key)
                if sub is None:
                    problems.append(f"{origin}: valuesSchema: values.{path}{key} has no schema; declare its type and form")
                else:
                    walk(value, sub, f"{path}{key}.")
        elif not _declares(schema):
            problems.append(f"{origin}: valuesSchema: values.{path.rstrip('.')} has no type, format or choices")

    walk(defaults, values_schema(lab_schema), "")
    return problems


def values_problems(values: dict, defaults: dict, lab_schema: dict | None, origin: str, *, lenient: bool = False,
                    given=lambda path: None) -> list[str]:
    """Resolved values against the built-in and the lab's own schema (ports, names, addresses, images), plus
    bounds that hold for every value: a length, no control characters where the default had none, numbers that
    are finite. Each problem names where the value came from: the user's --set or file, else the lab's spec."""
    import jsonschema

    problems = []
    subnet = (values.get("network") or {}).get("subnet") if isinstance(values.get("network"), dict) else None
    checker = _formats(subnet if isinstance(subnet, str) and not _templated(subnet) else None)

    def where(path) -> str:
        return given(tuple(str(p) for p in path)) or origin

    validator = jsonschema.Draft202012Validator({"allOf": [BUILTIN_VALUES_SCHEMA, lab_schema or {}]}, format_checker=checker)
    for error in sorted(_leaf_errors(validator.iter_errors(values)), key=lambda e: [str(p) for p in e.absolute_path]):
        if lenient and _templated(error.instance):
            continue  # judged once rendered
        problems.append(f"{where(error.absolute_path)}: values.{_field(error.absolute_path)}: {_message(error)}")

    def walk(node: Any, default: Any, path: tuple) -> None:
        dotted = ".".join(str(p) for p in path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, default.get(key) if isinstance(default, dict) else None, path + (key,))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, None, path + (str(i),))
        elif isinstance(node, float) and not math.isfinite(node):
            problems.append(f"{where(path)}: values.{dotted}: {node} is not a finite number")
        elif isinstance(node, str):
            if len(node) > MAX_VALUE_LENGTH:
                problems.append(f"{where(path)}: values.{dotted}: longer than {MAX_VALUE_LENGTH} characters")
            elif any(ord(c) < 32 and c != "\t" for c in node) and not (isinstance(default, str) and "\n" in default):
                problems.append(f"{where(path)}: values.{dotted}: contains a control character (a newline?)")

    walk(values, defaults, ())
    return [p for i, p in enumerate(problems) if p not in problems[:i]]


def _network(values: dict) -> Network:
    raw = values.get("network") or {}
    return Network(str(raw.get("name", DEFAULT_NETWORK)), str(raw.get("subnet", DEFAULT_SUBNET)))


# ---------------------------------------------------------------- building the model

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
            if not _is(ipaddress.ip_address, ip):
                problems.append(f"{origin}: pki.certificates.{name}.ip.{i}: '{str(ip)[:60]}' is not an IP address")
        for i, dns in enumerate(cert.get("dns", [])):
            if len(dns) > 253 or not DNS_NAME.match(dns):
                problems.append(f"{origin}: pki.certificates.{name}.dns.{i}: '{dns[:60]}' is not a DNS name")
        if not cert["cn"].strip() or len(cert["cn"]) > 64:
            problems.append(f"{origin}: pki.certificates.{name}.cn: a common name has 1 to 64 characters")
        if cert["usage"] == "server" and not (cert.get("dns") or cert.get("ip")):
            problems.append(f"{origin}: pki.certificates.{name}: a server certificate needs at least one dns or ip SAN")
        certificates[name] = CertSpec(
            name=name, usage=cert["usage"], cn=cert["cn"], dns=tuple(cert.get("dns", [])), ip=tuple(cert.get("ip", [])),
            days=cert.get("days", 365), algorithm=cert.get("algorithm", algorithm), subject=_subject(base, cert.get("subject")),
            self_signed=cert.get("selfSigned", False),
        )
    if problems:
        raise SpecErrors(problems)
    root, inter = raw["root"], raw["intermediate"]
    return PkiSpec(
        root=CASpec(root["cn"], root.get("days", 3650), algorithm, _subject(base, root.get("subject"))),
        intermediate=CASpec(inter["cn"], inter.get("days", 1825), algorithm, _subject(base, inter.get("subject"))),
        certificates=certificates,
    )


def _upstream_manifest(raw: dict) -> UpstreamManifest:
    return UpstreamManifest(raw["artifact"], {upstream: key for key, upstream in raw.get("images", {}).items()},
                            tuple(Omission(o["kind"], o["name"], tuple(o["runtimes"]), o["why"]) for o in raw.get("omit", [])))


def _build_charts(raw: list[dict]) -> tuple[Chart, ...]:
    return tuple(
        Chart(release=c["release"], chart=c["chart"], version=str(c["version"]), namespace=c["namespace"], values=c["values"],
              repo=c.get("repo"), waits=tuple(Wait.from_spec(w, DEFAULT_CHART_WAIT_TIMEOUT) for w in c.get("wait", [])),
              artifact=c.get("artifact"), emulate=tuple((e["apiVersion"], e["kind"]) for e in c.get("emulate", [])))
        for c in raw
    )


def _read_spec(entry: LabEntry) -> dict:
    raw = read_yaml(entry.spec_file, "lab spec")
    if not isinstance(raw, dict):
        raise BadInput(f"{entry.spec_file}: a lab spec must be a mapping")
    return raw


def summary(entry: LabEntry, checks, waits, steps, runtimes) -> dict:
    """A lab's name, title and runtimes for a listing: the spec read and checked against its schema as written,
    nothing rendered (listing labs runs no template of theirs)."""
    raw = _read_spec(entry)
    problems = schema_problems(raw, str(entry.spec_file), _validator(checks, waits, steps, runtimes, lenient=True))
    if raw.get("name") != entry.directory.name:
        problems.append(f"{entry.spec_file}: name: must match the lab's folder name '{entry.directory.name}'")
    if problems:
        raise SpecErrors(problems)
    return {"name": raw["name"], "title": raw["title"], "runtimes": list(raw["runtimes"])}


def load_lab(
    entry: LabEntry,
    *,
    values_files: list[Path] | tuple = (),
    sets: list[str] | tuple = (),
    instance: str | None = None,
    images_files: list[Path] | tuple = (),
    checks,
    waits,
    steps,
    runtimes,
) -> Lab:
    """The lab: its spec checked as written, the user's values merged in (as data) and checked, the lab's own
    templated values resolved, the spec's sections rendered and checked again, the model built."""
    kinds = SimpleNamespace(checks=checks, waits=waits, steps=steps, runtimes=runtimes)
    raw = _read_spec(entry)
    _check_spec(raw, entry, kinds)
    instance = instance_name(instance if instance is not None else raw["name"])
    env = lab_environment(entry.directory)
    values, lab_ctx = _resolved_values(raw, entry, env, instance, list(values_files), list(sets), list(images_files))
    images, versions = values.pop("images"), values.pop("versions")
    base_ctx = {**values, "images": images, "versions": versions, "lab": lab_ctx}
    origin = str(entry.spec_file)
    pki = _build_pki(_render_tree(env, raw.get("pki"), base_ctx, origin, "pki"), origin) if raw.get("pki") else None
    lab = Lab(
        name=raw["name"], title=raw["title"], description=raw.get("description", "").strip(), source=raw.get("source", {}),
        runtimes=tuple(raw["runtimes"]), directory=entry.directory, spec_file=entry.spec_file, instance=instance,
        values=values, images=images, versions=versions, pki=pki, cluster={}, stack=raw.get("stack", {}),
        manifests={group: [e if isinstance(e, str) else _upstream_manifest(_render_tree(env, e, base_ctx, origin, f"manifests.{group}.{i}"))
                           for i, e in enumerate(entries)]
                   for group, entries in raw.get("manifests", {}).items()}, network=_network(values),
        image_roles={role: tuple(keys) for role, keys in raw.get("imageRoles", {}).items()},
        artifacts={name: Artifact(name, a["url"], a["sha256"]) for name, a in raw.get("artifacts", {}).items()},
    )
    lab.cluster = _render_tree(env, raw.get("cluster", {}), lab.context(), origin, "cluster")
    rendered_steps = _render_tree(env, raw.get("steps", []), lab.context(), origin, "steps")
    _check_rendered(raw, entry, lab, rendered_steps, kinds)
    lab.charts = _build_charts(lab.cluster.get("charts", []))
    lab.emulated_crds = tuple(lab.cluster.get("emulated", {}).get("crds", []))
    lab.emulated_manifests = tuple(lab.cluster.get("emulated", {}).get("manifests", []))
    lab.steps = [_build_step(s, steps, kinds) for s in rendered_steps]
    named = _render_tree(env, raw.get("stages"), lab.context(), origin, "stages") if raw.get("stages") else None
    lab.stages = named_stages(named, lab.steps) if named else derived_stages(lab.steps)
    epilogue = _render_tree(env, raw.get("epilogue"), lab.context(), origin, "epilogue") if raw.get("epilogue") else {}
    lab.epilogue = {"recap": epilogue.get("recap", ""), "cleanup": epilogue.get("cleanup", ""),
                    "tryThis": [{"commands": "", **item} for item in epilogue.get("tryThis", [])]}
    return lab


def _check_spec(raw: dict, entry: LabEntry, kinds) -> None:
    """The spec as written: its schema, its cross-field rules, its values' schemas."""
    origin = str(entry.spec_file)
    broken: set[str] = set()
    problems = schema_problems(raw, origin, _validator(kinds.checks, kinds.waits, kinds.steps, kinds.runtimes, lenient=True), broken)
    problems += _nonfinite(raw, origin)
    problems += semantic_problems(raw, entry.directory, origin, kinds.checks, kinds.steps, kinds.runtimes, broken)  # sections the schema vouched for
    if not broken.intersection(("values", "valuesSchema")):
        problems += unschemed_values(raw.get("values") or {}, raw.get("valuesSchema"), origin)
    if raw.get("valuesSchema") is not None:
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(raw["valuesSchema"])
        except jsonschema.SchemaError as exc:
            problems.append(f"{origin}: valuesSchema.{_field(exc.absolute_path)}: not a valid JSON Schema: {exc.message[:200]}")
    if problems:
        raise SpecErrors(problems)


def _resolved_values(raw: dict, entry: LabEntry, env, instance: str, values_files: list, sets: list, images_files: list) -> tuple[dict, dict]:
    """The values: defaults, the user's layers over them (data), each judged before templates derive others from
    it (a bad subnet is named as such), then the lab's templated values resolved and everything judged again."""
    origin = str(entry.spec_file)
    defaults = {**raw.get("values", {}), "images": raw.get("images", {}), "versions": raw.get("versions", {})}
    merged = apply_overrides(defaults, values_files, sets, images_files, values_schema(raw.get("valuesSchema")))
    problems = values_problems(merged.values, defaults, raw.get("valuesSchema"), origin, lenient=True, given=merged.origin_of)
    if problems:
        raise SpecErrors(problems)
    lab_ctx = {"name": raw["name"], "title": raw["title"], "instance": instance}
    resolver = _Resolver(env, origin, {"lab": lab_ctx}, lambda path: merged.origin_of(path) is not None)
    values = resolver.resolve_all(merged.values)
    problems = values_problems(values, defaults, raw.get("valuesSchema"), origin, given=merged.origin_of)
    problems += _distinct_problems(values, raw.get("distinctValues", []), origin, merged.origin_of)
    if problems:
        raise SpecErrors(problems)
    return values, lab_ctx


def _check_rendered(raw: dict, entry: LabEntry, lab: Lab, rendered_steps: list[dict], kinds) -> None:
    """The rendered spec, strictly: a port or URL that came out of a template is judged like a literal one, and each
    step kind's rules run again on what the templates made (two users whose names render alike, a range)."""
    origin = str(entry.spec_file)
    problems = schema_problems({**raw, "cluster": lab.cluster, "steps": rendered_steps}, origin,
                               _validator(kinds.checks, kinds.waits, kinds.steps, kinds.runtimes, lenient=False))
    if not problems:
        cert_names = set(lab.pki.certificates) if lab.pki else set()
        problems += step_problems(raw, rendered_steps, entry.directory, origin, kinds.checks, kinds.steps, cert_names)
    problems += _nonfinite({"cluster": lab.cluster, "steps": rendered_steps}, origin)
    problems = list(dict.fromkeys(problems))
    if problems:
        raise SpecErrors(problems)


def _build_step(raw: dict, steps, registries) -> Step:
    kind = next(k for k in steps.names() if k in raw)
    value = raw[kind]
    return Step(name=raw["name"], kind=kind, description=raw.get("description", "").strip(),
                params=steps.get(kind).build(value, raw["name"], registries), runtimes=tuple(raw.get("runtimes", ())),
                files=steps.get(kind).files(raw["name"], value), hint=raw.get("hint", "").strip())
