"""The CLI as a user meets it: Click's runner through the real exit path."""

import json
import subprocess
import sys
import time

from tests.helpers import edit_spec, openssl, run_lab


def test_version():
    result = run_lab("--version")
    assert result.exit_code == 0 and "lab, version 0.1.0" in result.stdout


def test_list_shows_labs(workdir):
    result = run_lab("list")
    assert result.exit_code == 0
    assert "inject-mtls" in result.stdout and "mini" in result.stdout and "kind, docker" in result.stdout
    data = json.loads(run_lab("list", "-o", "json").stdout)
    assert {l["name"] for l in data["labs"]} >= {"inject-mtls", "mini"}


def test_show_lab(workdir):
    result = run_lab("show", "mini", "--set", "port=9000")
    assert result.exit_code == 0
    for text in ("Minimal lab for the test suite", "example/web:1", "port: 9000", "mini-client", "reach", "http check"):
        assert text in result.stdout
    data = json.loads(run_lab("show", "mini", "-o", "json").stdout)
    assert data["values"]["ip"] == "10.77.0.10" and data["steps"][1]["check"]["type"] == "http"


def test_unknown_lab_exit_2(workdir):
    result = run_lab("show", "nope")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: unknown lab 'nope' (known labs: ") and "mini" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_spec_one_line_per_problem(lab_root):
    def change(spec):
        spec["pki"]["certificates"]["client"]["usage"] = "both"
        spec["steps"][0]["apply"] = "missing"

    edit_spec(lab_root / "mini", change)
    result = run_lab("certs", "mini")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Error: 2 problems:"
    spec_file = str(lab_root / "mini" / "lab.yaml")
    assert lines[1].strip() == f"{spec_file}: pki.certificates.client.usage: must be one of server, client"
    assert lines[2].strip().startswith(f"{spec_file}: steps.0.apply: unknown manifest group 'missing'")
    assert not (lab_root.parent / "work" / "certs").exists()  # nothing half-created


def test_certs_issue_show_verify(workdir):
    result = run_lab("certs", "mini")
    assert result.exit_code == 0, result.stderr
    pki = workdir / "certs" / "mini"
    assert "issued" in result.stdout and (pki / "client.pem").is_file()
    key_text = (pki / "client.key").read_text()
    assert key_text.split("\n")[1] not in result.stdout  # keys are never printed
    again = run_lab("certs", "mini")
    assert "issued" not in again.stdout and again.stdout.count("reused") == 4
    shown = run_lab("certs", "show", str(pki / "server.crt"))
    assert shown.exit_code == 0
    for text in ("CN=web.mini", "CN=Mini Intermediate", "DNS:web.mini", "IP:10.77.0.10", "serverAuth", "CA:FALSE", "days left"):
        assert text in shown.stdout, text
    inter = run_lab("certs", "show", str(pki / "intermediate.crt"))
    assert "CA:TRUE, pathlen:0" in inter.stdout and "key_cert_sign" in inter.stdout
    verified = run_lab("certs", "verify", "mini")
    assert verified.exit_code == 0 and verified.stdout.count(" ok") == 4


def test_certs_verify_fails_on_foreign_leaf(workdir, tmp_path):
    run_lab("certs", "mini")
    run_lab("certs", "mini", "--out", str(tmp_path / "other"))
    pki = workdir / "certs" / "mini"
    (pki / "client.crt").write_bytes((tmp_path / "other" / "client.crt").read_bytes())
    result = run_lab("certs", "verify", "mini")
    assert result.exit_code == 1 and "FAIL" in result.stdout and "client" in result.stderr


def test_certs_show_bad_file_exit_2(workdir):
    (workdir / "junk.crt").write_text("nope")
    result = run_lab("certs", "show", "junk.crt")
    assert result.exit_code == 2 and "no PEM or DER certificate found" in result.stderr


def test_render_writes_artifacts(workdir):
    result = run_lab("render", "mini")
    assert result.exit_code == 0, result.stderr
    assert (workdir / "rendered" / "mini" / "manifests/base/00-secret.yaml").is_file()
    chain = workdir / "certs" / "mini"
    assert openssl("verify", "-CAfile", str(chain / "ca.crt"), "-untrusted", str(chain / "intermediate.crt"), str(chain / "server.crt")).returncode == 0


def test_render_with_out_keeps_everything_inside_it(workdir):
    """--out without --pki: the PKI lives in OUT/pki (0700, keys 0600), reused by the next render, nothing else
    written in the working folder; -o json lists the files alone on stdout."""
    first = run_lab("render", "mini", "--out", "out")
    assert first.exit_code == 0, first.stderr
    pki = workdir / "out" / "pki"
    assert (pki.stat().st_mode & 0o777) == 0o700 and (pki / "server.key").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in workdir.iterdir()) == [".out.lock", "out"]
    ca = (pki / "ca.crt").read_bytes()
    again = run_lab("render", "mini", "--out", "out", "-o", "json")
    assert again.exit_code == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["pki"] == "out/pki" and "pki/ca.crt" in data["files"] and "manifests/base/00-secret.yaml" in data["files"]
    assert (pki / "ca.crt").read_bytes() == ca  # reused, not reissued
    apart = run_lab("render", "mini", "--out", "out2", "--pki", "keys")
    assert apart.exit_code == 0 and (workdir / "keys" / "ca.crt").is_file() and not (workdir / "out2" / "pki").exists()


def test_help_does_not_import_heavy_libraries():
    code = "import sys; from orchestrator.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\n" \
           "heavy = [m for m in ('docker', 'kubernetes', 'cryptography', 'jinja2', 'rich') if m in sys.modules]\nprint(heavy)"
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    assert time.perf_counter() - start < 5  # generous: the point is no heavy import, asserted above


def test_render_a_lab_without_pki(lab_root):
    (lab_root / "mini/templates/cm.yaml.j2").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: {{ namespace }}}\n")

    def change(spec):
        del spec["pki"]
        spec["manifests"] = {"base": ["cm.yaml.j2"]}
        spec["steps"][1]["check"]["expect"] = {"status": 200}

    edit_spec(lab_root / "mini", change)
    result = run_lab("render", "mini")
    assert result.exit_code == 0, result.stderr
    assert (lab_root.parent / "work/rendered/mini/manifests/base/00-cm.yaml").read_text().startswith("apiVersion: v1")
    assert not (lab_root.parent / "work/certs").exists()
    certs = run_lab("certs", "mini")
    assert certs.exit_code == 0 and "declares no PKI: nothing to issue" in certs.stdout  # as `make certs` for all labs
    assert not (lab_root.parent / "work/certs").exists()
    verified = run_lab("certs", "verify", "mini", "-o", "json")
    assert verified.exit_code == 0 and json.loads(verified.stdout) == []


def test_pause_needs_a_terminal(workdir):
    result = run_lab("up", "mini", "--pause")
    assert result.exit_code == 2 and "--pause waits for Enter between steps: it needs a terminal" in result.stderr
    assert not (workdir / ".lab").exists()  # refused before anything was recorded


def test_the_program_exits_without_teardown_but_with_its_exit_handlers_and_threads(tmp_path):
    """`run()` ends the process with os._exit after main(): the exit code, every line of output, the exit
    handlers (the Kubernetes client removes its temporary key files in one) and a thread still at work are
    all kept as an ordinary exit keeps them."""
    def program(body: str, *argv: str) -> subprocess.CompletedProcess:
        code = ("import atexit, sys, threading, time\nfrom pathlib import Path\nfrom orchestrator import cli\n"
                f"{body}\nsys.argv = ['lab', *{list(argv)!r}]\ncli.run()\nPath({str(tmp_path / 'after')!r}).write_text('run() returned')\n")
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)

    handler = f"atexit.register(lambda: Path({str(tmp_path / 'handler')!r}).write_text('ran'))"
    ok = program(handler, "--version")
    assert ok.returncode == 0 and ok.stdout.startswith("lab, version ")
    assert (tmp_path / "handler").read_text() == "ran"
    assert not (tmp_path / "after").exists()  # the process ended in run()

    refused = program("", "up", "no-such-lab")
    assert refused.returncode == 2 and refused.stderr.startswith("Error: unknown lab 'no-such-lab'")

    many = program("", "--help")
    assert many.returncode == 0 and many.stdout.rstrip().endswith(subprocess.run(
        [sys.executable, "-m", "orchestrator", "--help"], capture_output=True, text=True).stdout.rstrip().splitlines()[-1])

    worker = ("def work():\n    time.sleep(0.3)\n    Path(" + repr(str(tmp_path / "worker")) + ").write_text('done')\n"
              "threading.Thread(target=work).start()")
    waited = program(worker, "--version")
    assert waited.returncode == 0 and (tmp_path / "worker").read_text() == "done"


def _complete_in_bash(words: str, cwd) -> list[str]:
    """What real bash offers after `words` with the script `lab completion bash` prints."""
    import os

    script = 'eval "$(lab completion bash)"; COMP_WORDS=(' + words + '); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n' \
             '_lab_completion lab; printf "%s\\n" "${COMPREPLY[@]}"'
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=cwd, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_lab_and_instance_names_complete_in_bash(workdir, own_registry):
    from orchestrator.lifecycle.homes import remember

    assert _complete_in_bash("lab up mi", workdir) == ["mini"]
    assert "completion" in _complete_in_bash("lab comp", workdir)
    far = workdir / "far"
    (far / ".lab" / "mini-2").mkdir(parents=True)
    (far / ".lab" / "mini-2" / "state.json").write_text("{}")
    remember(far)
    assert _complete_in_bash("lab down mini", workdir) == ["mini-2"]  # recorded instances, from any home
    own_registry.write_text("{broken")
    assert _complete_in_bash("lab down mini", workdir) == []  # never an error in the prompt
    for shell in ("zsh", "fish"):
        script = run_lab("completion", shell)
        assert script.exit_code == 0 and "_LAB_COMPLETE" in script.stdout


def test_every_reporting_command_prints_json_alone(workdir):
    """`-o json`: stdout parses as one JSON document (progress goes to stderr), for each command that reports."""
    commands = [["list"], ["show", "mini"], ["certs", "issue", "mini"], ["certs", "verify", "mini"],
                ["certs", "show", "certs/mini"], ["render", "mini", "--out", "out"], ["guide", "mini", "--format", "md"],
                ["status"], ["down", "mini"], ["down", "--all"], ["images", "list", "mini"], ["doctor", "mini", "--runtime", "docker"]]
    for args in commands:
        result = run_lab(*args, "-o", "json")
        assert result.exit_code in (0, 3), (args, result.stderr)  # doctor: 3 when this machine lacks a prerequisite
        assert isinstance(json.loads(result.stdout), (dict, list)), args
    assert run_lab("list", "-o", "table").stdout == run_lab("list", "-o", "text").stdout  # text: the old name


def test_participant_commands_need_a_lab_that_is_up(workdir):
    """Each says which instance is missing and how to make it, exit 2, before touching anything."""
    for args in (["check", "mini"], ["check", "mini", "reach"], ["solve", "mini"], ["steps", "mini"], ["reset", "mini", "--to", "base"],
                 ["logs", "mini", "web"], ["shell", "mini", "web"], ["exec", "mini", "web", "--", "true"], ["steps", "mini", "-o", "json"]):
        result = run_lab(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stderr.startswith("Error: no instance mini is recorded") and "`lab up` it first" in result.stderr, args
    assert not (workdir / ".lab").exists()


def test_up_until_an_unknown_stage_names_the_labs_stages(workdir):
    result = run_lab("up", "mini", "--until", "nope")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --until nope: lab mini has no such stage (stages: base)"
    assert not (workdir / ".lab").exists() and not (workdir / "certs").exists()
