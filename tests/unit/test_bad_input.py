"""Bad input, table-driven: every case exits 2 (or 3 for a missing prerequisite) with a clear error naming
the file and the field, no traceback, bounded output, quickly, and nothing created on disk or in Docker.

Docker is a recording fake on PATH and the SDK points at a socket that does not exist: any call to
either would show up (a record, or exit 3), so "nothing in Docker" is asserted, not assumed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.helpers import edit_spec, files, run_lab

MAX_STDERR_LINES = 30
MAX_STDERR_BYTES = 8000
TIME_BOUND = 10.0  # seconds; the point is "no minutes of retries", the cases take well under a second


def write(path: Path, content: str | bytes) -> str:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def alias_bomb() -> str:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


# (id, files to write into the work dir {name: content}, spec change (lab, change) or None, argv, exit code, expected text in stderr)
CASES = [
    ("port-out-of-range", {}, None, ["up", "inject-mtls", "--set", "haproxy.port=70000"], 2, "values.haproxy.port: 70000 is not a 'port'"),
    ("port-zero", {}, None, ["up", "inject-mtls", "--set", "echo.port=0"], 2, "values.echo.port: 0 is not a 'port'"),
    ("empty-image", {}, None, ["up", "inject-mtls", "--set", "images.haproxy="], 2, "values.images.haproxy: '' should be non-empty"),
    ("bad-image", {}, None, ["up", "inject-mtls", "--set", "images.haproxy=Bad Image!"], 2, "values.images.haproxy: 'Bad Image!' is not a 'image'"),
    ("huge-namespace", {}, None, ["up", "inject-mtls", "--set", "namespace=" + "a" * 4000], 2, "values.namespace:"),
    ("too-long-set", {}, None, ["up", "inject-mtls", "--set", "namespace=" + "a" * 5000], 2, "longer than 4096 characters"),
    ("newline-namespace", {}, None, ["up", "inject-mtls", "--set", "namespace=a\nb"], 2, "values.namespace:"),
    ("namespace-not-dns", {}, None, ["up", "inject-mtls", "--set", "namespace=Bad_NS"], 2, "values.namespace: 'Bad_NS' is not a 'dns-label'"),
    ("bad-ip", {}, None, ["up", "inject-mtls", "--set", "haproxy.ip=999.1.1.1"], 2, "values.haproxy.ip: '999.1.1.1' is not a 'network-host'"),
    ("bad-subnet", {}, None, ["up", "inject-mtls", "--set", "network.subnet=10.0.0.0/33"], 2, "values.network.subnet: '10.0.0.0/33' is not a 'cidr'"),
    ("ipv6-subnet-for-ipv4-stack", {}, None, ["up", "inject-mtls", "--set", "network.subnet=fd00::/64"], 2,
     "values.network.subnet: 'fd00::/64' is not a 'ipv4-cidr'"),
    ("bad-network-name", {}, None, ["up", "inject-mtls", "--set", "network.name=bad name"], 2, "values.network.name: 'bad name' is not a 'docker-network'"),
    ("workers-too-many", {}, None, ["up", "inject-mtls", "--set", "kind.workers=100"], 2, "values.kind.workers: 100 is greater than the maximum of 8"),
    ("server-name-not-dns", {}, None, ["up", "inject-mtls", "--set", "haproxy.serverName=not a name"], 2, "values.haproxy.serverName"),
    ("type-mismatch", {}, None, ["up", "inject-mtls", "--set", "echo.port=abc"], 2, "--set echo.port=abc: echo.port: expected integer, got 'abc'"),
    # A user's values are data, never templates: what would be a cycle (or code) is text, judged by the value's form.
    ("user-value-is-not-a-template", {"v.yaml": "haproxy:\n  backend: '{{ haproxy.resolver }}'\n  resolver: '{{ haproxy.backend }}'\n"}, None,
     ["up", "inject-mtls", "-f", "v.yaml"], 2, "v.yaml: values.haproxy.backend: '{{ haproxy.resolver }}' is not a 'host-port'"),
    ("templated-cycle", {}, ("mini", lambda s: s["values"].update(ip="{{ url }}", url="https://{{ ip }}/")), ["show", "mini"], 2,
     "refers to itself in a cycle ("),
    ("unknown-key", {}, None, ["up", "inject-mtls", "--set", "haproxy.prot=1"], 2, "--set haproxy.prot=1: haproxy.prot: unknown key"),
    ("set-without-equals", {}, None, ["up", "inject-mtls", "--set", "haproxy.port"], 2, "--set haproxy.port: expected key.path=value"),
    ("values-alias-bomb", {"bomb.yaml": alias_bomb()}, None, ["up", "inject-mtls", "-f", "bomb.yaml"], 2, "once its aliases are expanded"),
    ("values-too-big", {"big.yaml": "a: " + "x" * (1024 * 1024 + 10) + "\n"}, None, ["up", "inject-mtls", "-f", "big.yaml"], 2, "at most 1048576 are accepted"),
    ("values-many-unknown-keys", {"keys.yaml": "".join(f"k{i}: 1\n" for i in range(20000))}, None, ["up", "inject-mtls", "-f", "keys.yaml"], 2,
     "... and 19980 more"),
    ("values-missing-file", {}, None, ["up", "inject-mtls", "-f", "nope.yaml"], 2, "nope.yaml: cannot read values file"),
    ("values-not-utf8", {"latin.yaml": b"namespace: caf\xe9\n"}, None, ["up", "inject-mtls", "-f", "latin.yaml"], 2, "is not UTF-8 text (line 1, byte 14)"),
    ("values-duplicate-key", {"dup.yaml": "namespace: a\nnamespace: b\n"}, None, ["up", "inject-mtls", "-f", "dup.yaml"], 2,
     "line 2: duplicate key 'namespace' (first at line 1)"),
    ("values-not-a-mapping", {"list.yaml": "- a\n- b\n"}, None, ["up", "inject-mtls", "-f", "list.yaml"], 2, "a values file must be a mapping"),
    ("values-deeply-nested", {"deep.yaml": "a: " + "[" * 5000 + "]" * 5000 + "\n"}, None, ["up", "inject-mtls", "-f", "deep.yaml"], 2, "nested too deeply"),
    ("values-broken-yaml", {"broken.yaml": "a: [1\n"}, None, ["up", "inject-mtls", "-f", "broken.yaml"], 2, "not valid YAML: line 2"),
    ("unknown-skip", {}, None, ["up", "inject-mtls", "--skip", "nope"], 2, "--skip nope: no such step"),
    ("unknown-runtime", {}, None, ["up", "inject-mtls", "--runtime", "podman"], 2, "unknown runtime 'podman' (runtimes: kind, docker)"),
    ("bad-instance", {}, None, ["up", "inject-mtls", "--instance", "Bad_Name"], 2, "--instance Bad_Name: use lowercase letters"),
    ("long-instance", {}, None, ["up", "inject-mtls", "--instance", "a" * 100], 2, "use lowercase letters, digits and dashes (at most 40)"),
    ("unknown-lab", {}, None, ["up", "nope"], 2, "unknown lab 'nope'"),
    ("verify-never-up", {}, None, ["verify", "inject-mtls"], 2, "no instance inject-mtls is recorded"),
    ("spec-not-utf8", {}, ("mini", "RAW:" + "name: mini\ntitle: caf\xe9\n"), ["up", "mini"], 2, "lab.yaml: lab spec is not UTF-8 text"),
    ("spec-duplicate-key", {}, ("mini", "TEXT:apiVersion: lab/v1\nname: mini\nname: mini\n"), ["up", "mini"], 2,
     "lab.yaml: not valid YAML: line 3: duplicate key 'name' (first at line 2)"),
    ("spec-alias-bomb", {}, ("mini", "TEXT:" + alias_bomb()), ["show", "mini"], 2, "once its aliases are expanded"),
    ("spec-too-big", {}, ("mini", "TEXT:a: " + "x" * (1024 * 1024 + 10)), ["show", "mini"], 2, "at most 1048576 are accepted"),
    ("unknown-wait-kind", {}, ("mini", lambda s: s["steps"].append({"name": "w", "wait": {"for": "pod-gone", "name": "x"}})), ["up", "mini"], 2,
     "steps.2.wait.for: must be one of condition, crd-established, pod-ready, rollout"),
    ("unknown-check-type", {}, ("mini", lambda s: s["steps"][1]["check"].update(type="smtp")), ["up", "mini"], 2,
     "steps.1.check.type: must be one of admission, ca-bundle, cluster-cert, csr, http, hubble, kube-access, load-balancer, secret-cert, tls"),
    ("unknown-runtime-in-spec", {}, ("mini", lambda s: s.update(runtimes=["podman"])), ["show", "mini"], 2, "runtimes.0: must be one of kind, docker"),
    ("check-from-missing-pod", {}, ("mini", lambda s: s["steps"][1]["check"].update({"from": "ghost"})), ["up", "mini"], 2,
     "steps.1.check: from: no pod of the lab is ghost"),
    ("template-syntax-error", {}, ("mini", "TEMPLATE:secret.yaml.j2:kind: Secret\n{% if %}\n"), ["up", "mini"], 2, "secret.yaml.j2:2: template syntax error"),
    ("template-undefined", {}, ("mini", "TEMPLATE:secret.yaml.j2:kind: {{ nope }}\n"), ["up", "mini"], 2, "secret.yaml.j2:1: undefined value: 'nope' is undefined"),
    ("manifest-without-name", {}, ("mini", "TEMPLATE:secret.yaml.j2:apiVersion: v1\nkind: Secret\n"), ["up", "mini"], 2,
     "renders a manifest without apiVersion, kind and metadata.name"),
    ("docker-needs-control-plane-images", {}, None, ["up", "mini"], 2,
     "imageRoles.apiserver: the docker runtime runs kube-apiserver from this image; name its image key"),
    ("from-a-workload-needs-from", {}, ("mini", "TEMPLATE:secret.yaml.j2:apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"), ["up", "mini"], 2,
     "steps.1.check: a check without `from:` runs in the lab's only pod, but the lab has 1 (Deployment web); add `from: <pod>`"),
    ("bad-values-schema", {}, ("mini", lambda s: s.update(valuesSchema={"type": "nope"})), ["show", "mini"], 2, "valuesSchema.type: not a valid JSON Schema"),
    ("default-violates-schema", {}, ("mini", lambda s: s.update(values={**s["values"], "port": 99999})),
     ["show", "mini"], 2, "values.port: 99999 is not a 'port'"),
    ("policy-feature-not-emulated", {}, ("mini", "TEMPLATE:secret.yaml.j2:apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\n"
                                             "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress: [{fromCIDR: [10.0.0.0/8]}]\n"),
     ["up", "mini"], 2, "CiliumNetworkPolicy default/p: spec.ingress[0]: fromCIDR is not emulated by the docker runtime"),
    ("namespace-kubernetes-owns", {}, None, ["up", "inject-mtls", "--set", "namespace=kube-system"], 2,
     "namespace.yaml.j2: renders Namespace kube-system, which is Kubernetes' own"),
    ("epilogue-experiment-without-why", {}, ("mini", lambda s: s.update(epilogue={"tryThis": [{"title": "x"}]})), ["show", "mini"], 2,
     "epilogue.tryThis.0: 'why' is a required property"),
    ("pause-without-terminal", {}, None, ["up", "inject-mtls", "--pause"], 2, "--pause waits for Enter between steps: it needs a terminal"),
    ("ports-not-distinct", {}, None, ["up", "inject-mtls", "--set", "haproxy.impostorPort=8083"], 2,
     "values.haproxy.impostorPort: 8083 is also haproxy.port; haproxy.port, haproxy.impostorPort, haproxy.healthPort must all differ"),
    ("distinct-value-unknown", {}, ("mini", lambda s: s.update(distinctValues=[["port", "nope.port"]])), ["show", "mini"], 2,
     "distinctValues.0.1: no value nope.port"),
    ("upgrade-of-no-chart", {}, ("mini", lambda s: s["steps"].append({"name": "u", "upgrade": {"release": "cilium", "values": "secret.yaml.j2"}})),
     ["up", "mini"], 2, "steps.2.upgrade.release: 'cilium' is not one of the lab's charts (none)"),
    ("upgrade-values-missing", {}, ("inject-mtls", lambda s: s["steps"].append({"name": "u", "upgrade": {"release": "cilium", "values": "nope.yaml.j2"}})),
     ["up", "inject-mtls"], 2, "steps.10.upgrade.values: template 'nope.yaml.j2' not found"),
    ("step-on-unknown-runtime", {}, ("mini", lambda s: s["steps"][0].update(runtimes=["kind"])), ["up", "mini"], 2,
     "steps.0.runtimes: 'kind' is not one of the lab's runtimes"),
    # A template renders to a string: `from:`'s mapping form must not match it too (a oneOf error naming neither).
    ("templated-from", {}, ("mini", lambda s: s["steps"][1]["check"].update({"from": "{{ namespace }}/ghost"})), ["up", "mini"], 2,
     "steps.1.check: from: no pod of the lab is mini/ghost"),
    ("ca-namespace-without-ca-secret", {}, ("mini", lambda s: s["steps"].append({"name": "c", "check": {
        "type": "secret-cert", "namespace": "mini", "name": "x", "caNamespace": "other", "expect": {"verified": True}}})), ["up", "mini"], 2,
     "steps.2.check.caNamespace: names where caSecret is; set caSecret too"),
]


def apply_spec_change(labs: Path, change) -> None:
    lab, what = change
    if callable(what):
        edit_spec(labs / lab, what)
    elif what.startswith("RAW:"):
        (labs / lab / "lab.yaml").write_bytes(what[4:].encode("latin-1"))
    elif what.startswith("TEXT:"):
        (labs / lab / "lab.yaml").write_text(what[5:])
    elif what.startswith("TEMPLATE:"):
        name, _, content = what[len("TEMPLATE:"):].partition(":")
        (labs / lab / "templates" / name).write_text(content)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_anything_exists(world, case):
    labs, work, fake = world
    _id, to_write, change, argv, code, expected = case
    for name, content in to_write.items():
        write(work / name, content)
    if change:
        apply_spec_change(labs, change)
    before = files(work)
    start = time.monotonic()
    result = run_lab(*argv)
    elapsed = time.monotonic() - start
    assert result.exit_code == code, result.stdout + result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.splitlines()) <= MAX_STDERR_LINES and len(result.stderr) <= MAX_STDERR_BYTES
    assert elapsed < TIME_BOUND
    assert files(work) == before  # no state, no PKI, no rendered file, no log
    calls = (fake / "calls.jsonl").read_text() if (fake / "calls.jsonl").exists() else ""
    assert calls == "", f"docker/kind/helm were called: {calls}"


def test_a_file_or_field_is_named_in_every_spec_problem(world):
    labs, _work, _fake = world

    def change(spec):
        spec["steps"][1]["check"]["type"] = "smtp"
        spec["runtimes"] = ["vm"]
        del spec["title"]

    edit_spec(labs / "mini", change)
    result = run_lab("show", "mini")
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and lines[0] == "Error: 3 problems:"
    assert all(line.strip().startswith(str(labs / "mini" / "lab.yaml") + ": ") for line in lines[1:])


def test_down_of_an_unknown_instance_creates_nothing(world):
    _labs, work, fake = world
    result = run_lab("down", "inject-mtls", "--instance", "nope")
    assert result.exit_code == 0 and "nothing recorded, nothing to remove" in result.stdout
    assert files(work) == []


def test_status_and_down_all_survive_a_stale_instance(world):
    """An instance whose lab folder is gone is still listed and removed; a broken record does not block others."""
    _labs, work, fake = world
    record = {"lab": "gone", "instance": "gone", "runtime": "docker", "phase": "up",
              "instance_record": {"lab": "gone", "instance": "gone", "labels": {"lab.dev/instance": "gone"},
                                  "network": {"name": "kind", "subnet": "172.18.0.0/16"}}}
    (work / ".lab/gone").mkdir(parents=True)
    (work / ".lab/gone/state.json").write_text(json.dumps(record))
    status = run_lab("status")
    assert status.exit_code == 0 and "gone" in status.stdout
    assert "Traceback" not in status.stderr
