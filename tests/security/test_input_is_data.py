"""Input is data, never code: a user's values are never templates, a lab's templates run sandboxed with bounded
work, and `pem()` reaches only what the lab issues. Each case would run code or read a host file on a tool
without these guards; here it is refused (exit 2, naming where) or kept as text, and the canary never appears."""

from __future__ import annotations

import os
import time

import pytest
import yaml

from tests.helpers import edit_spec, files, run_lab

TIME_BOUND = 15.0


def canary(tmp_path) -> tuple[str, object]:
    """A shell command that would leave a file behind if any input ran as code."""
    path = tmp_path / "canary"
    return f"touch {path}", path


PAYLOADS = [
    "{{ lipsum.__globals__.os.popen('%s').read() }}",
    "{{ cycler.__init__.__globals__.os.popen('%s').read() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}{{ '%s' }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('%s').read() }}",
    "{{ namespace.__init__.__globals__['os'].popen('%s').read() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}{{ '%s' }}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_set_value_is_text_never_a_template(world, tmp_path, payload):
    _labs, work, _fake = world
    command, path = canary(tmp_path)
    text = payload.replace("%s", command)
    result = run_lab("render", "mini", "--set", f"note={text[:200]}", "--out", str(work / "out"))
    assert not path.exists()
    if result.exit_code == 0:  # accepted as a note: written as the text typed
        secret = yaml.safe_load((work / "out/manifests/base/00-secret.yaml").read_text())
        assert secret["metadata"]["annotations"]["lab.dev/note"] == text[:200]
    else:
        assert result.exit_code == 2 and "--set note=" in result.stderr


def test_a_values_file_and_an_images_file_are_data(world, tmp_path):
    _labs, work, _fake = world
    (work / "values.yaml").write_text("note: '{{ 7 * 7 }}'\n")
    result = run_lab("render", "mini", "-f", "values.yaml", "--out", str(work / "out"))
    assert result.exit_code == 0, result.stderr
    secret = yaml.safe_load((work / "out/manifests/base/00-secret.yaml").read_text())
    assert secret["metadata"]["annotations"]["lab.dev/note"] == "{{ 7 * 7 }}"
    (work / "images.yaml").write_text("images: {web: \"{{ lipsum.__globals__ }}\"}\n")
    result = run_lab("show", "mini", "--images", "images.yaml")
    assert result.exit_code == 2 and "images.yaml: values.images.web: '{{ lipsum.__globals__ }}' is not a 'image'" in result.stderr


def test_a_value_derived_from_a_users_value_is_not_rendered_twice(world):
    """The lab's own template `url` names `ip`: a user's `ip` goes in as text, and is not rendered again."""
    result = run_lab("show", "mini", "-o", "json", "--set", "ip={{ 6 * 7 }}")
    assert result.exit_code == 2 and "values.ip: '{{ 6 * 7 }}' is not a 'ipv4'" in result.stderr


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_lab_template_runs_sandboxed(world, tmp_path, payload):
    labs, _work, _fake = world
    command, path = canary(tmp_path)
    (labs / "mini/templates/secret.yaml.j2").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: \"" + payload.replace("%s", command) + "\"}\n")
    result = run_lab("render", "mini", "--out", "out")
    assert not path.exists()
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "secret.yaml.j2:" in result.stderr and ("not allowed in a template" in result.stderr or "is undefined" in result.stderr)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_templated_value_of_a_lab_runs_sandboxed(world, tmp_path, payload):
    labs, _work, _fake = world
    command, path = canary(tmp_path)
    edit_spec(labs / "mini", lambda spec: spec["values"].update(note=payload.replace("%s", command)))
    result = run_lab("list")  # lists, renders nothing
    assert not path.exists() and result.exit_code == 0 and "mini" in result.stdout and "invalid" not in result.stderr
    result = run_lab("show", "mini")
    assert not path.exists()
    assert result.exit_code == 2 and "values.note:" in result.stderr


WORK = [
    ("range", "{% for i in range(10**9) %}{% endfor %}", "Range too big"),
    ("nested-loops", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "more than 200000 loop iterations"),
    ("list-loops", "{% set l = range(100000)|list %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}", "loop iterations"),
    ("repeat", "{{ 'x' * 10**9 }}", "builds a value of more than"),
    ("power", "{{ 2 ** 100000 }}", "a power of more than"),
    ("doubling", "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% endif %}{% endmacro %}{{ d('x', 60) }}", "builds a value"),
    ("format-width", "{{ '%0999999999d' % 1 }}", "a format width"),
    ("format-method", "{{ '{:999999999}'.format(1) }}", "a format width"),
    ("format-filter", "{{ '%*d'|format(999999999, 1) }}", "a format width"),
    ("center-filter", "{{ 'x'|center(10**9) }}", "a filter argument"),
    ("center-method", "{{ 'x'.center(10**9) }}", "not allowed in a template"),
    ("replace", "{{ ('x' * 100000).replace('', 'yyyyyyyyyyyyyyyyyyyy') }}", "a replace() that builds"),
    ("join", "{{ (['x' * 100000] * 100)|join }}", "a join() that builds"),
    ("indent", "{{ ('x\\n' * 100000)|indent(10000) }}", "an indent that builds"),
    ("macro-tree", "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}", "more than 50000 calls"),
    ("output", "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "writes more than"),
    ("mutation", "{% set l = [] %}{{ l.append(1) }}", "not allowed in a template"),
]


@pytest.mark.parametrize("case", WORK, ids=[c[0] for c in WORK])
def test_a_templates_work_is_bounded(world, case):
    labs, work, _fake = world
    _id, body, expected = case
    (labs / "mini/templates/secret.yaml.j2").write_text(body + "\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    start = time.monotonic()
    result = run_lab("render", "mini", "--out", "out")
    assert time.monotonic() - start < TIME_BOUND
    assert result.exit_code == 2 and expected in result.stderr, result.stderr
    assert "secret.yaml.j2:" in result.stderr
    assert not (work / "out").exists() and not (work / "certs").exists()


@pytest.mark.parametrize("name", ["/etc/passwd", "../../../../etc/passwd", "ca.key/../../x", "nope.crt", "../mini/lab.yaml"])
def test_pem_reads_only_what_the_lab_issues(world, name):
    labs, work, _fake = world
    (labs / "mini/templates/secret.yaml.j2").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: \"{{ pem('%s') }}\"}\n" % name)
    result = run_lab("render", "mini", "--out", "out")
    assert result.exit_code == 2 and "the lab's PKI issues no such file" in result.stderr, result.stderr
    assert "root:" not in result.stdout + result.stderr


def test_a_template_symlinked_out_of_the_lab_is_refused(world, tmp_path):
    labs, _work, _fake = world
    outside = tmp_path / "outside.yaml"
    outside.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: secret-from-elsewhere}\n")
    (labs / "mini/templates/secret.yaml.j2").unlink()
    os.symlink(outside, labs / "mini/templates/secret.yaml.j2")
    result = run_lab("render", "mini", "--out", "out")
    assert result.exit_code == 2 and "is outside" in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd"])
def test_a_template_name_never_leaves_the_templates_folder(world, name):
    labs, _work, _fake = world
    edit_spec(labs / "mini", lambda spec: spec["manifests"].update(base=[name]))
    result = run_lab("show", "mini")
    assert result.exit_code == 2 and f"manifests.base.0: template '{name}'" in result.stderr
    assert "not found" in result.stderr or "is not a relative path inside" in result.stderr


@pytest.mark.parametrize("special", ["fifo", "device", "folder"])
def test_a_template_that_is_not_a_regular_file_is_refused(world, special):
    labs, _work, _fake = world
    path = labs / "mini/templates/secret.yaml.j2"
    path.unlink()
    if special == "fifo":
        os.mkfifo(path)
    elif special == "device":
        os.symlink("/dev/zero", path)
    else:
        path.mkdir()
    start = time.monotonic()
    result = run_lab("render", "mini", "--out", "out")
    assert time.monotonic() - start < TIME_BOUND
    assert result.exit_code == 2, result.stderr
    assert ("must be a regular file" in result.stderr or "is outside" in result.stderr or "not found" in result.stderr), result.stderr


def test_listing_labs_renders_nothing(world):
    """A lab whose values would fail to render is still listed: `lab list` reads specs, it runs no template."""
    labs, _work, _fake = world
    edit_spec(labs / "mini", lambda spec: spec["values"].update(note="{{ undefined_anywhere }}"))
    result = run_lab("list", "-o", "json")
    assert result.exit_code == 0
    assert "mini" in [lab["name"] for lab in yaml.safe_load(result.stdout)["labs"]]


def test_nothing_is_written_when_input_is_refused(world):
    _labs, work, fake = world
    before = files(work)
    assert run_lab("render", "mini", "--set", "port={{ 1 }}").exit_code == 2
    assert files(work) == before and not (fake / "calls.jsonl").exists()
