"""Fuzzing the inputs a user writes (lab.yaml, values files, --set) with a fixed budget: whatever comes in,
`lab` either accepts it or refuses it with exit 2 and a bounded `Error:` naming where, never a traceback,
never an "unexpected" error, never a file written on refusal."""

from __future__ import annotations

import os
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import FIXTURE_LABS, copy_lab, run_lab

BUDGET = settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**6, max_value=10**6), st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=string.printable + "é→\x00\x7f", max_size=40),
    st.sampled_from(["{{ nope }}", "{{ port }}", "{% if %}", "{{ ip | subnet_host(999) }}", "10.0.0.0/33", "::1", "a" * 300]),
)
yaml_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(st.text(string.ascii_letters + ".-_", min_size=1, max_size=12), inner, max_size=4)),
                           max_leaves=12)
keys = st.sampled_from(["port", "subnet", "ip", "url", "namespace", "images.web", "images", "nope", "port.x", "a.b.c", ""])


def assert_contract(result, workdir_files_before, workdir) -> None:
    assert result.exit_code in (0, 2), result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Error: unexpected " not in result.stderr, result.stderr
    assert len(result.stderr) <= 8000 and len(result.stderr.splitlines()) <= 30
    if result.exit_code == 2:
        assert result.stderr.startswith("Error: ")
        assert sorted(p.name for p in workdir.iterdir()) == workdir_files_before


@pytest.fixture
def fuzz_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "labs").mkdir()
    copy_lab("mini", root / "labs", FIXTURE_LABS)
    (root / "work").mkdir()
    return root


@BUDGET
@given(sets=st.lists(st.tuples(keys, scalars), max_size=4))
def test_fuzz_set(fuzz_root, monkeypatch, sets):
    monkeypatch.chdir(fuzz_root / "work")
    monkeypatch.setenv("LAB_PATH", str(fuzz_root / "labs"))
    argv = ["show", "mini"]
    for key, value in sets:
        argv += ["--set", f"{key}={'' if value is None else value}"]
    before = sorted(p.name for p in (fuzz_root / "work").iterdir())
    assert_contract(run_lab(*argv), before, fuzz_root / "work")


@BUDGET
@given(values=yaml_values)
def test_fuzz_values_file(fuzz_root, monkeypatch, values):
    monkeypatch.chdir(fuzz_root / "work")
    monkeypatch.setenv("LAB_PATH", str(fuzz_root / "labs"))
    path = fuzz_root / "values.yaml"
    path.write_text(yaml.safe_dump(values, allow_unicode=True))
    before = sorted(p.name for p in (fuzz_root / "work").iterdir())
    assert_contract(run_lab("show", "mini", "-f", str(path)), before, fuzz_root / "work")


@BUDGET
@given(path=st.lists(st.sampled_from(["values", "steps", 0, 1, "check", "expect", "pki", "certificates", "server", "manifests",
                                       "runtimes", "images", "stack", "cluster", "title", "name", "url"]), min_size=1, max_size=4),
       value=yaml_values)
def test_fuzz_lab_spec(fuzz_root, monkeypatch, path, value):
    """A value dropped anywhere into a valid spec: accepted, or refused naming the file and field."""
    monkeypatch.chdir(fuzz_root / "work")
    monkeypatch.setenv("LAB_PATH", str(fuzz_root / "labs"))
    spec_file = fuzz_root / "labs/mini/lab.yaml"
    original = spec_file.read_text()
    spec = yaml.safe_load(original)
    node = spec
    for part in path[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
    if isinstance(node, dict):
        node[path[-1]] = value
    elif isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node):
        node[path[-1]] = value
    try:
        spec_file.write_text(yaml.safe_dump(spec, allow_unicode=True))
        before = sorted(p.name for p in (fuzz_root / "work").iterdir())
        result = run_lab("show", "mini")
        assert_contract(result, before, fuzz_root / "work")
        if result.exit_code == 2:
            assert str(spec_file) in result.stderr or "--instance" in result.stderr, result.stderr
    finally:
        spec_file.write_text(original)


@BUDGET
@given(raw=st.binary(max_size=300))
def test_fuzz_raw_bytes_as_values_file(fuzz_root, monkeypatch, raw):
    monkeypatch.chdir(fuzz_root / "work")
    monkeypatch.setenv("LAB_PATH", str(fuzz_root / "labs"))
    path = fuzz_root / "raw.yaml"
    path.write_bytes(raw)
    before = sorted(p.name for p in (fuzz_root / "work").iterdir())
    assert_contract(run_lab("show", "mini", "-f", str(path)), before, fuzz_root / "work")


def test_fuzz_budget_is_fixed():
    """CI runs the same examples every time (derandomized), within a bounded count."""
    assert BUDGET.derandomize and BUDGET.max_examples == 120 and os.environ.get("HYPOTHESIS_PROFILE") is None
