"""Rendering: StrictUndefined errors that locate the problem, filters, determinism, nothing half-written."""

import os
import stat

import pytest
import yaml

from orchestrator.catalog import LabEntry
from orchestrator.errors import BadInput
from orchestrator.pki.manager import PkiManager
from orchestrator.pki.store import PkiStore
from orchestrator.render.artifacts import render_to
from orchestrator.render.engine import b64, make_environment, render_template, subnet_host, to_yaml
from tests.helpers import load_lab


def test_undefined_name_reports_template_and_line(tmp_path):
    (tmp_path / "t.yaml.j2").write_text("a: 1\nb: {{ missing_value }}\n")
    env = make_environment([tmp_path])
    with pytest.raises(BadInput) as err:
        render_template(env, "t.yaml.j2", {})
    assert str(err.value) == "t.yaml.j2:2: undefined value: 'missing_value' is undefined"


def test_syntax_error_reports_line(tmp_path):
    (tmp_path / "t.j2").write_text("ok\n{% if %}\n")
    with pytest.raises(BadInput) as err:
        render_template(make_environment([tmp_path]), "t.j2", {})
    assert ":2: template syntax error" in str(err.value)


def test_lab_templates_override_shared(tmp_path):
    lab, shared = tmp_path / "lab", tmp_path / "shared"
    lab.mkdir(), shared.mkdir()
    (shared / "x.j2").write_text("shared")
    (shared / "y.j2").write_text("only shared")
    (lab / "x.j2").write_text("lab")
    env = make_environment([lab, shared])
    assert render_template(env, "x.j2", {}) == "lab"
    assert render_template(env, "y.j2", {}) == "only shared"


def test_filters():
    assert b64("-----BEGIN-----\n") == "LS0tLS1CRUdJTi0tLS0tCg=="
    nested = "spec:\n  x:\n    " + to_yaml({"a": 1, "b": ["c"]}, 4)
    assert yaml.safe_load(nested) == {"spec": {"x": {"a": 1, "b": ["c"]}}}
    block = "k:\n  " + to_yaml({"pem": "line1\nline2\n"}, 2) + "\n"
    assert yaml.safe_load(block) == {"k": {"pem": "line1\nline2\n"}}
    assert subnet_host("172.18.0.0/16", -6) == "172.18.255.249"
    assert subnet_host("10.0.0.0/24", 10) == "10.0.0.10"
    with pytest.raises(ValueError):
        subnet_host("10.0.0.0/30", 7)


def _rendered(lab_root, out):
    lab = load_lab(LabEntry("mini", lab_root / "mini"))
    pki = out.parent / "pki"
    PkiManager(lab.pki, PkiStore(pki)).ensure()
    return lab, pki, render_to(lab, pki, out)


def test_render_is_deterministic(lab_root, tmp_path):
    lab, pki, first = _rendered(lab_root, tmp_path / "a")
    second = render_to(lab, pki, tmp_path / "b")
    files_a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file()}
    files_b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert files_a == files_b and len(files_a) == 2  # the manifest and the record of what lab wrote
    assert first.files == second.files


def test_secret_manifest_written_0600_and_valid(lab_root, tmp_path):
    _lab, _pki, rendered = _rendered(lab_root, tmp_path / "out")
    path = tmp_path / "out" / "manifests/base/00-secret.yaml"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    doc = yaml.safe_load(path.read_text())
    assert doc["metadata"]["labels"]["lab.dev/instance"] == "mini"
    assert rendered.manifests == {"base": ["manifests/base/00-secret.yaml"]}


def test_render_error_leaves_output_untouched(lab_root, tmp_path):
    _lab, pki, _ = _rendered(lab_root, tmp_path / "out")
    before = (tmp_path / "out" / "manifests/base/00-secret.yaml").read_bytes()
    (lab_root / "mini" / "templates" / "secret.yaml.j2").write_text("x: {{ nope }}\n")
    lab = load_lab(LabEntry("mini", lab_root / "mini"))
    with pytest.raises(BadInput) as err:
        render_to(lab, pki, tmp_path / "out")
    assert "secret.yaml.j2:1: undefined value: 'nope' is undefined" in str(err.value)
    assert (tmp_path / "out" / "manifests/base/00-secret.yaml").read_bytes() == before
