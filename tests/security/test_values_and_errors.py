"""Values mean what the user typed and every value has a form; library and OS errors reach the user as one line
naming their own file (exit 2, or 3 when the Docker engine is missing), never as `Error: unexpected ...`."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import REPO, edit_spec, fake_calls, files, run_lab


def shown_values(*args: str) -> dict:
    result = run_lab("show", *args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("typed, lab, path, expected", [
    ("versions.cilium=1.10", "inject-mtls", ("versions", "cilium"), "1.10"),
    ("versions.cilium=1.20", "inject-mtls", ("versions", "cilium"), "1.20"),
    ("namespace=0777", "inject-mtls", ("values", "namespace"), "0777"),
    ("namespace=on", "inject-mtls", ("values", "namespace"), "on"),
    ("namespace=yes", "inject-mtls", ("values", "namespace"), "yes"),
    ("haproxy.port=0x1F91", "inject-mtls", ("values", "haproxy", "port"), 8081),
    ("note=1e3", "mini", ("values", "note"), "1e3"),
    ("note=null", "mini", ("values", "note"), "null"),
])
def test_a_set_value_means_what_was_typed(world, typed, lab, path, expected):
    node = shown_values(lab, "--set", typed)
    for key in path:
        node = node[key]
    assert node == expected


def test_a_values_file_means_what_was_typed(world):
    _labs, work, _fake = world
    (work / "v.yaml").write_text("versions: {cilium: 1.10}\nnamespace: 0777\nhaproxy: {port: 8083}\n")
    shown = shown_values("inject-mtls", "-f", "v.yaml")
    assert shown["versions"]["cilium"] == "1.10" and shown["values"]["namespace"] == "0777" and shown["values"]["haproxy"]["port"] == 8083


@pytest.mark.parametrize("args, expected", [
    (["--set", "haproxy.port=8:03"], "--set haproxy.port=8:03: haproxy.port: expected integer, got '8:03'"),
    (["--set", "haproxy.port=99999"], "--set haproxy.port=99999: values.haproxy.port: 99999 is not a 'port'"),
    (["--set", "haproxy.ip=172.18.0.1"], "is not a 'network-host'"),  # the network's gateway
    (["--set", "haproxy.ip=172.18.255.255"], "is not a 'network-host'"),  # its broadcast address
    (["--set", "haproxy.ip=10.1.2.3"], "is not a 'network-host'"),  # outside the subnet
    (["--set", "haproxy.resolver=999.999.999.999:99999"], "is not a 'host-port'"),
    (["--set", "haproxy.backend=$(reboot):80"], "is not a 'host-port'"),
    (["--set", "network.name=host"], "is not a 'docker-network'"),
    (["--set", "network.name=bridge"], "is not a 'docker-network'"),
    (["--set", "haproxy.serverName=*.*.-bad-..name"], "is not a 'dns-name'"),
    (["--set", "versions.cilium=$(reboot)"], "values.versions.cilium"),
])
def test_a_value_out_of_form_is_refused_naming_the_users_input(world, args, expected):
    _labs, work, fake = world
    result = run_lab("render", "inject-mtls", *args, "--out", "out")
    assert result.exit_code == 2 and expected in result.stderr, result.stderr
    assert result.stderr.startswith("Error: --set ") and "lab.yaml" not in result.stderr  # the user's own input, not the lab's
    assert files(work) == [] and fake_calls(fake) == []


@pytest.mark.parametrize("value, expected", [
    ("metallb.namespace=$(reboot) Bad_Name!", "values.metallb.namespace"),
    ("metallb.webhookConfiguration=<script>", "values.metallb.webhookConfiguration"),
    ("pool.addresses=172.18.255.250-172.18.255.240", "is not a 'network-range'"),
    ("pool.addresses=10.0.0.0/24", "is not a 'network-range'"),
])
def test_every_value_of_the_webhook_lab_has_a_form(world, value, expected):
    result = run_lab("show", "webhook-ca-repair", "--set", value)
    assert result.exit_code == 2 and expected in result.stderr, result.stderr


def test_a_value_a_lab_declares_without_a_schema_is_a_spec_error(world):
    labs, _work, _fake = world
    edit_spec(labs / "mini", lambda spec: spec["values"].update(free="anything goes"))
    result = run_lab("show", "mini")
    assert result.exit_code == 2 and "valuesSchema: values.free has no schema" in result.stderr


@pytest.mark.parametrize("where", ["timeout", "interval"])
def test_a_checks_numbers_are_finite(world, where):
    labs, _work, _fake = world
    spec = (labs / "mini/lab.yaml").read_text()
    (labs / "mini/lab.yaml").write_text(spec.replace("      type: http\n", f"      type: http\n      {where}: .nan\n"))
    result = run_lab("show", "mini")
    assert result.exit_code == 2 and f"steps.1.check.{where}: nan is not a finite number" in result.stderr, result.stderr


def test_two_users_of_one_name_after_rendering_are_refused(world):
    labs, _work, _fake = world
    edit_spec(labs / "mini", lambda spec: spec["steps"].extend([
        {"name": "u1", "user": {"name": "{{ namespace }}", "via": "cluster-ca"}},
        {"name": "u2", "user": {"name": "mini", "via": "cluster-ca"}}]))
    result = run_lab("show", "mini")
    assert result.exit_code == 2 and "steps.3.user.name: user 'mini' is made by an earlier step" in result.stderr, result.stderr


# ---------------------------------------------------------------- certificates a library cannot read

def _tlv(data: bytes, at: int) -> tuple[int, int, int, int]:
    """(tag, start of content, end of content, end of element) of the DER element at `at`."""
    tag, length = data[at], data[at + 1]
    start = at + 2
    if length & 0x80:
        count = length & 0x7F
        length, start = int.from_bytes(data[start:start + count], "big"), start + count
    return tag, start, start + length, start + length


def _children(data: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(data):
        _tag, _start, _end, end = _tlv(data, at)
        out.append(data[at:end])
        at = end
    return out


def _element(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + content


def _content(element: bytes) -> bytes:
    _tag, start, end, _ = _tlv(element, 0)
    return element[start:end]


def _certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(7)
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("odd.lab")]), critical=False).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def _rebuild(der: bytes, change_tbs) -> bytes:
    tbs, algorithm, signature = _children(_content(der))
    return _element(0x30, _element(0x30, b"".join(change_tbs(_children(_content(tbs))))) + algorithm + signature)


def duplicate_extension(der: bytes) -> bytes:
    def change(parts):
        extensions = _children(_content(_content(parts[-1])))
        parts[-1] = _element(0xA3, _element(0x30, b"".join(extensions + extensions[:1])))
        return parts
    return _rebuild(der, change)


def bad_san(der: bytes) -> bytes:
    def change(parts):
        extensions = _children(_content(_content(parts[-1])))
        oid, value = _children(_content(extensions[0]))
        extensions[0] = _element(0x30, oid + _element(0x04, b"\x30\x05\x82\x09"))
        parts[-1] = _element(0xA3, _element(0x30, b"".join(extensions)))
        return parts
    return _rebuild(der, change)


def unknown_key_algorithm(der: bytes) -> bytes:
    def change(parts):
        spki = parts[6]
        algorithm, key = _children(_content(spki))
        parts[6] = _element(0x30, _element(0x30, _element(0x06, bytes([0x2A, 0x03, 0x04, 0x05]))) + key)
        return parts
    return _rebuild(der, change)


@pytest.mark.parametrize("mangle", [duplicate_extension, bad_san, unknown_key_algorithm])
def test_certs_show_names_the_file_of_a_certificate_it_cannot_read(world, mangle):
    _labs, work, _fake = world
    import base64

    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(mangle(_certificate())) + b"-----END CERTIFICATE-----\n"
    (work / "odd.crt").write_bytes(pem)
    result = run_lab("certs", "show", "odd.crt")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.startswith("Error: odd.crt") and "unexpected" not in result.stderr


def test_a_pki_certificate_the_library_cannot_read_is_reissued(world):
    _labs, work, _fake = world
    assert run_lab("certs", "mini").exit_code == 0
    import base64

    (work / "certs/mini/server.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(unknown_key_algorithm(_certificate()))
                                                 + b"-----END CERTIFICATE-----\n")
    result = run_lab("certs", "mini")
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:] if line.strip() and not line.startswith("PKI")}
    assert rows["server"] == "issued" and rows["client"] == "reused", result.stdout


@pytest.mark.parametrize("command", [["images", "pull", "mini", "--runtime", "docker"], ["images", "save", "mini", "--runtime", "docker", "--out", "b.tar"],
                                     ["images", "load", "bundle.tar"]])
def test_images_commands_without_an_engine_exit_3(tmp_path, monkeypatch, command):
    """The real docker CLI against a socket nobody serves: exit 3 with the fix, before any image is touched."""
    from tests.helpers import FIXTURE_LABS

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAB_PATH", str(FIXTURE_LABS))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    if subprocess.run(["docker", "--version"], capture_output=True).returncode != 0:
        pytest.skip("no docker CLI on this machine")
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"[]"))
    (tmp_path / "bundle.tar").write_bytes(buffer.getvalue())
    result = run_lab(*command)
    assert result.exit_code == 3 and "the Docker engine does not answer" in result.stderr, result.stderr
    assert not (tmp_path / "b.tar").exists()


@pytest.mark.parametrize("delay", [0.05, 0.1, 0.2, 0.4])
def test_ctrl_c_at_any_moment_ends_without_a_traceback(tmp_path, delay):
    env = {**os.environ, "LAB_PATH": str(REPO / "tests/fixtures/labs")}
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "list"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err.decode(), err.decode()
    assert proc.returncode in (0, 130), (proc.returncode, err)


def test_a_values_file_of_yaml_1_1_booleans_is_read_as_text(world):
    _labs, work, _fake = world
    (work / "v.yaml").write_text("note: off\n")
    assert shown_values("mini", "-f", "v.yaml")["values"]["note"] == "off"
    assert yaml.safe_load("note: off\n")["note"] is False  # what YAML 1.1 (PyYAML's default) would have made of it
