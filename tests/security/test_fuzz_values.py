"""Property: whatever `--set` and values files a user (or an attacker handing out files) gives `lab render`, it
accepts or refuses with exit 2, never a traceback, with bounded output, and touches nothing outside its root
(the working folder, its --out and PKI, HOME and the cache all inside a temporary root)."""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import LABS, REPO, copy_lab, run_lab

BUDGET = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def _leaf_paths(tree: dict, prefix: str = "") -> list[str]:
    return [p for k, v in tree.items() for p in (_leaf_paths(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"])]


SPEC = yaml.safe_load((LABS / "inject-mtls/lab.yaml").read_text())
KEYS = _leaf_paths(SPEC["values"]) + [f"images.{k}" for k in SPEC["images"]] + [f"versions.{k}" for k in SPEC["versions"]]
CANARY = Path(f"/tmp/lab-fuzz-canary-{os.getpid()}")  # made only if some input ran as code
HOSTILE = [f"{{{{ lipsum.__globals__.os.popen('touch {CANARY}').read() }}}}", "{{ ''.__class__.__mro__ }}", "{% for i in range(10**9) %}{% endfor %}",
           "../../../../etc/passwd", "/dev/zero", "1.10", "0777", "on", "8:03", ".nan", ".inf", "-.inf", "0x1F", "0o17", "~", "null",
           "172.18.0.1", "172.18.255.255", "255.255.255.255", "host", "bridge", "*.*.-bad-..name", "a\nb", "a\x00b", "é" * 300,
           "x" * 5000, "$(reboot)", "`id`", "; rm -rf /", "'quoted'", "\"dq\"", "[1, 2]", "{a: 1}", "&anchor", "*alias", "!!python/object:os.system"]
scalars = st.one_of(st.sampled_from(HOSTILE), st.text(alphabet=string.printable, max_size=60), st.integers(-10**9, 10**9),
                    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none())
values_trees = st.recursive(scalars, lambda inner: st.dictionaries(st.sampled_from([k.split(".")[-1] for k in KEYS] + ["x", "images"]),
                                                                  inner, max_size=4), max_leaves=10)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-root")
    (root / "labs").mkdir()
    copy_lab("inject-mtls", root / "labs", LABS)
    for name in ("work", "home", "cache", "tmp"):
        (root / name).mkdir()
    return root


def snapshot(path: Path) -> dict[str, float]:
    """Names and modification times of what lies directly in a folder outside the root (a write there shows)."""
    return {p.name: p.stat().st_mtime for p in path.iterdir() if not p.name.startswith("pytest-")} if path.is_dir() else {}


def assert_contract(result, outside_before: list[dict], outside: list[Path]) -> None:
    assert result.exit_code in (0, 2), result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Error: unexpected " not in result.stderr, result.stderr
    assert len(result.stderr) <= 8000 and len(result.stderr.splitlines()) <= 30, result.stderr[:500]
    assert len(result.stdout) <= 8000
    assert [snapshot(p) for p in outside] == outside_before
    assert not CANARY.exists()


def _run(root: Path, monkeypatch, *args: str):
    monkeypatch.chdir(root / "work")
    monkeypatch.setenv("LAB_PATH", str(root / "labs"))
    monkeypatch.setenv("HOME", str(root / "home"))
    monkeypatch.setenv("LAB_CACHE", str(root / "cache"))
    monkeypatch.setenv("TMPDIR", str(root / "tmp"))
    outside = [REPO, REPO / "labs/inject-mtls", REPO / "certs", REPO / ".lab", root.parent]
    before = [snapshot(p) for p in outside]
    result = run_lab("render", "inject-mtls", "--out", str(root / "work/out"), *args)
    assert_contract(result, before, outside)
    return result


@BUDGET
@given(sets=st.lists(st.tuples(st.sampled_from(KEYS + ["nope", "haproxy", "a.b.c", ""]), scalars), min_size=1, max_size=4))
def test_fuzz_set_on_render(root, monkeypatch, sets):
    argv = []
    for key, value in sets:
        argv += ["--set", f"{key}={'' if value is None else value}"]
    _run(root, monkeypatch, *argv)


@BUDGET
@given(tree=values_trees)
def test_fuzz_values_file_on_render(root, monkeypatch, tree):
    path = root / "values.yaml"
    path.write_text(yaml.safe_dump(tree if isinstance(tree, dict) else {"namespace": tree}, allow_unicode=True))
    _run(root, monkeypatch, "-f", str(path))


@BUDGET
@given(raw=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)))
def test_fuzz_raw_values_and_images_files(root, monkeypatch, raw):
    path = root / "raw.yaml"
    path.write_bytes(raw)
    _run(root, monkeypatch, "-f", str(path))
    _run(root, monkeypatch, "--images", str(path))
