"""Spec validation (table-driven), overrides and templated values."""

import pytest

from orchestrator.catalog import Catalog, LabEntry
from orchestrator.errors import BadInput, SpecErrors
from tests.helpers import load_lab
from orchestrator.spec.values import parse_set
from tests.helpers import edit_spec


def _entry(lab_root):
    return LabEntry("mini", lab_root / "mini")


def _del(path):
    def change(spec):
        node = spec
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return change


def _set(path, value):
    def change(spec):
        node = spec
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


@pytest.mark.parametrize(
    "change, expected",
    [
        (_set(["pki", "certificates", "client", "usage"], "both"), "pki.certificates.client.usage: must be one of server, client"),
        (_set(["runtimes"], ["kind", "podman"]), "runtimes.1: must be one of kind, docker"),
        (_del(["title"]), "(top level): 'title' is a required property"),
        (_set(["apiVersion"], "lab/v2"), "apiVersion: 'lab/v1' was expected"),
        (_set(["name"], "Bad_Name"), "name: 'Bad_Name' does not match"),
        (_set(["pki", "algorithm"], "dsa"), "pki.algorithm: must be one of ecdsa-p256, rsa-2048, rsa-3072"),
        (_set(["pki", "root", "days"], 0), "pki.root.days: 0 is less than the minimum of 1"),
        (_set(["steps", 1, "check", "type"], "smtp"), "steps.1.check.type: must be one of admission, ca-bundle, cluster-cert, csr, http, hubble, kube-access, load-balancer, secret-cert, tls"),
        (_del(["steps", 1, "check", "url"]), "steps.1.check: 'url' is a required property"),
        (_set(["steps", 1, "check", "bogus"], 1), "steps.1.check: unknown field 'bogus'"),
        (_set(["steps", 0, "apply"], "nope"), "steps.0.apply: unknown manifest group 'nope' (known: base)"),
        (_set(["steps", 1, "name"], "base"), "steps.1.name: duplicate step name 'base'"),
        (_set(["manifests", "base"], ["missing.yaml.j2"]), "manifests.base.0: template 'missing.yaml.j2' not found"),
        (_set(["steps", 1, "check", "cert"], "/c.crt"), "steps.1.check.key: required when cert is set"),
        (_set(["name"], "other"), "name: must match the lab's folder name 'mini'"),
        (_set(["runtimes"], ["kind"]), "cluster.kindConfig: required when the lab supports the kind runtime"),
        (lambda spec: spec["steps"].append({"name": "w", "wait": {"for": "pod-ready", "name": "c"}}),
         "steps.2.wait: 'namespace' is a required property"),
        (lambda spec: spec["steps"].append({"name": "w", "apply": "base", "wait": {"for": "crd-established", "name": "x"}}),
         "steps.2: needs exactly one of apply, wait, check, user"),
        (lambda spec: spec["steps"].append({"name": "who", "check": {"type": "kube-access", "user": "ringu", "verb": "list", "resource": "pods",
                                                                        "expect": {"allowed": False}}}),
         "steps.2.check.user: no earlier step makes user 'ringu' (users: none)"),
        (lambda spec: spec["steps"].extend([{"name": "u1", "user": {"name": "ringu", "via": "csr"}},
                                            {"name": "u2", "user": {"name": "ringu", "via": "cluster-ca"}}]),
         "steps.3.user.name: user 'ringu' is made by an earlier step"),
        (lambda spec: spec["steps"].append({"name": "u", "user": {"name": "ringu", "via": "email"}}),
         "steps.2.user.via: must be one of csr, cluster-ca, untrusted-ca"),
        (lambda spec: spec["steps"].append({"name": "u", "user": {"name": "ringu", "via": "csr", "expirationSeconds": 60}}),
         "steps.2.user.expirationSeconds: 60 is less than the minimum of 600"),
        (lambda spec: spec["steps"].append({"name": "g", "check": {"type": "kube-access", "user": "x", "verb": "get", "resource": "pods",
                                                                      "expect": {"status": 403}}}),
         "steps.2.check.name: a get request names one object"),
    ],
)
def test_invalid_spec_names_file_and_field(lab_root, change, expected):
    edit_spec(lab_root / "mini", change)
    with pytest.raises(SpecErrors) as err:
        load_lab(_entry(lab_root))
    spec_file = str(lab_root / "mini" / "lab.yaml")
    assert any(p.startswith(spec_file + ": ") and expected in p for p in err.value.problems), err.value.problems


def test_every_problem_is_reported_at_once(lab_root):
    def change(spec):
        spec["pki"]["certificates"]["client"]["usage"] = "both"
        spec["runtimes"] = ["vm"]
        del spec["title"]

    edit_spec(lab_root / "mini", change)
    with pytest.raises(SpecErrors) as err:
        load_lab(_entry(lab_root))
    assert len(err.value.problems) == 3
    assert err.value.exit_code == 2


def test_defaults_and_templated_values_resolve(lab_root):
    lab = load_lab(_entry(lab_root))
    assert lab.values["ip"] == "10.77.0.10"
    assert lab.values["url"] == "https://10.77.0.10:8443/"
    assert lab.pki.certificates["server"].ip == ("10.77.0.10", "127.0.0.1")
    assert lab.pki.certificates["server"].subject == (("C", "KR"), ("O", "Mini"))
    check = lab.steps[1].check
    assert check.params["url"] == "https://10.77.0.10:8443/"
    assert check.expect["json"] == {"headers.x-ssl-client-cn": "mini-client"}
    assert check.timeout == 30.0 and check.interval == 1.0


def test_one_expression_of_a_number_keeps_its_type(lab_root):
    """`status: "{{ port }}"` is the number, as if written in place; text around an expression makes it text."""
    def change(spec):
        spec["steps"][1]["check"]["expect"] = {"status": "{{ port - 8243 }}", "error": "port {{ port }}", "exitCode": "{{ port > 1 and 7 }}"}

    edit_spec(lab_root / "mini", change)
    expect = load_lab(_entry(lab_root)).steps[1].check.expect
    assert expect["status"] == 200 and expect["error"] == "port 8443" and expect["exitCode"] == 7


def test_refusal_checks_get_a_short_default_timeout(lab_root):
    def change(spec):
        spec["steps"][1]["check"]["expect"] = {"exitCode": 56, "error": "certificate required"}

    edit_spec(lab_root / "mini", change)
    assert load_lab(_entry(lab_root)).steps[1].check.timeout == 10.0


def test_set_and_values_file_override_in_order(lab_root, tmp_path):
    values = tmp_path / "v.yaml"
    values.write_text("port: 9443\nsubnet: 10.99.0.0/16\nimages: {web: local/web:test}\n")
    lab = load_lab(_entry(lab_root), values_files=[values], sets=["port=10443"])
    assert lab.values["port"] == 10443  # --set wins over the file
    assert lab.values["ip"] == "10.99.0.10"  # derived values follow their inputs
    assert lab.images["web"] == "local/web:test"
    assert lab.pki.certificates["server"].ip[0] == "10.99.0.10"


@pytest.mark.parametrize(
    "assignment, expected",
    [
        ("prot=1", "--set prot=1: prot: unknown key"),
        ("port=abc", "--set port=abc: port: expected integer, got 'abc'"),
        ("images.db=x", "--set images.db=x: images.db: unknown key (known here: images.web)"),
        ("port", "--set port: expected key.path=value"),
    ],
)
def test_bad_overrides_are_reported(lab_root, assignment, expected):
    with pytest.raises(BadInput) as err:
        load_lab(_entry(lab_root), sets=[assignment])
    assert expected in str(err.value)


def test_values_file_errors_name_the_file(lab_root, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("port: [1\n")
    with pytest.raises(BadInput) as err:
        load_lab(_entry(lab_root), values_files=[broken])
    assert str(broken) in str(err.value) and "not valid YAML" in str(err.value)


def test_invalid_san_after_resolution(lab_root):
    edit_spec(lab_root / "mini", lambda spec: spec["pki"]["certificates"]["server"].update(ip=["{{ namespace }}"]))
    with pytest.raises(SpecErrors) as err:
        load_lab(_entry(lab_root), sets=["namespace=not-an-ip"])
    assert "pki.certificates.server.ip.0: 'not-an-ip' is not an IP address" in str(err.value)


def test_undefined_name_in_templated_value(lab_root):
    edit_spec(lab_root / "mini", _set(["values", "url"], "https://{{ hostname }}/"))
    with pytest.raises(BadInput) as err:
        load_lab(_entry(lab_root))
    assert "values.url: undefined value: 'hostname' is undefined" in str(err.value)


def test_cyclic_values_are_rejected(lab_root):
    def change(spec):
        spec["values"]["a"] = "{{ b }}x"
        spec["values"]["b"] = "{{ a }}y"
        spec["valuesSchema"]["properties"].update(a={"type": "string"}, b={"type": "string"})

    edit_spec(lab_root / "mini", change)
    with pytest.raises(BadInput) as err:
        load_lab(_entry(lab_root))
    assert "cycle" in str(err.value)


def test_parse_set_types():
    assert parse_set("a.b=8083") == {"a": {"b": 8083}}
    assert parse_set("a=true") == {"a": True}
    assert parse_set("a=x=y") == {"a": "x=y"}


def test_catalog_unknown_lab_lists_known(lab_root):
    from orchestrator.catalog import default_lab_roots

    with pytest.raises(BadInput) as err:
        Catalog(default_lab_roots()).get("nope")
    assert "unknown lab 'nope'" in str(err.value) and "mini" in str(err.value) and "inject-mtls" in str(err.value)


def _two_stage(spec):
    spec["steps"] += [{"name": "more", "apply": "base"},
                      {"name": "again", "check": dict(spec["steps"][1]["check"]), "hint": "  look at the Secret  "}]


def test_stages_are_derived_at_each_step_after_a_check(lab_root):
    edit_spec(lab_root / "mini", _two_stage)
    lab = load_lab(_entry(lab_root))
    assert [(s.name, [step.name for step in s.steps]) for s in lab.stages] == [("base", ["base", "reach"]), ("more", ["more", "again"])]
    assert [c.name for c in lab.stages[-1].checks] == ["again"]
    assert lab.steps[-1].hint == "look at the Secret"
    assert [s.name for s in lab.stages_before("more")] == ["base"]


def test_named_stages_carry_the_authors_words(lab_root):
    def change(spec):
        _two_stage(spec)
        spec["stages"] = [{"name": "serve", "from": "base", "title": "Serve {{ port }}", "why": "Because.\n"},
                          {"name": "again", "from": "more", "sample": "HTTP/1.1 200 OK\n"}]

    edit_spec(lab_root / "mini", change)
    lab = load_lab(_entry(lab_root))
    assert [(s.name, len(s.steps)) for s in lab.stages] == [("serve", 2), ("again", 2)]
    assert lab.stages[0].title == "Serve 8443" and lab.stages[0].why == "Because." and lab.stages[1].sample == "HTTP/1.1 200 OK"
    with pytest.raises(BadInput) as err:
        lab.stage("nope", "--until")
    assert err.value.message == "--until nope: lab mini has no such stage (stages: serve, again)"


@pytest.mark.parametrize("stages, expected", [
    ([{"name": "a", "from": "reach"}], "stages.0.from: the first stage starts at the first step, 'base'"),
    ([{"name": "a", "from": "base"}, {"name": "a", "from": "more"}], "stages.1.name: duplicate stage name 'a'"),
    ([{"name": "a", "from": "base"}, {"name": "b", "from": "nope"}], "stages.1.from: no step is named 'nope'"),
    ([{"name": "a", "from": "base"}, {"name": "b", "from": "more"}, {"name": "c", "from": "reach"}],
     "stages.2.from: 'reach' is not after the previous stage's first step"),
    ([{"name": "a", "from": "base"}, {"name": "b", "from": "base"}], "stages.1.from: 'base' is not after the previous stage's first step"),
    ([{"name": "a", "from": "base", "bogus": 1}], "stages.0: unknown field 'bogus'"),
    ([], "stages: [] should be non-empty"),
])
def test_invalid_stages_name_file_and_field(lab_root, stages, expected):
    def change(spec):
        _two_stage(spec)
        spec["stages"] = stages

    edit_spec(lab_root / "mini", change)
    with pytest.raises(SpecErrors) as err:
        load_lab(_entry(lab_root))
    assert any(p.startswith(str(lab_root / "mini" / "lab.yaml") + ": ") and expected in p for p in err.value.problems), err.value.problems
