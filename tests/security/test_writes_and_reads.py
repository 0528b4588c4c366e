"""Writes are contained and atomic, reads are bounded for real.

`render` replaces only what a render wrote, swaps a complete folder in, writes nothing outside `--out` (and
the PKI) and commits the PKI last; two issuers at once never leave a mixed PKI; a lab's compose file cannot
reach the host. Every input file is a regular file of bounded size, or refused at once: a FIFO never hangs a
command, a device never fills memory; a bundle is checked before Docker sees it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time

import pytest

from tests.helpers import REPO, edit_spec, fake_calls, files, openssl, run_lab

TIME_BOUND = 15.0


def test_render_refuses_an_out_folder_holding_the_users_files(world):
    _labs, work, _fake = world
    mine = work / "out/stack/mine.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("my notes")
    result = run_lab("render", "mini", "--out", "out")
    assert result.exit_code == 2 and "holds files lab did not write (stack/mine.txt)" in result.stderr
    assert mine.read_text() == "my notes" and files(work / "out") == ["stack", "stack/mine.txt"]
    assert not (work / "certs").exists()  # refused before the PKI was committed


def test_render_replaces_what_an_earlier_render_wrote(world):
    _labs, work, _fake = world
    assert run_lab("render", "mini", "--out", "out").exit_code == 0
    first = files(work / "out")
    assert run_lab("render", "mini", "--out", "out", "--set", "namespace=other").exit_code == 0
    assert files(work / "out") == first and "namespace: other" in (work / "out/manifests/base/00-secret.yaml").read_text()
    assert not [p for p in os.listdir(work) if p.startswith(".out.")] or os.listdir(work).count(".out.lock") == 1


@pytest.mark.parametrize("out", ["/dev/null", "a-file", "a-file/below"])
def test_render_into_something_that_is_not_a_folder_writes_nothing(world, out):
    _labs, work, _fake = world
    (work / "a-file").write_text("x")
    result = run_lab("render", "mini", "--out", out)
    assert result.exit_code == 2 and "--out" in result.stderr, result.stderr
    assert files(work) == ["a-file"]  # no PKI, no key, no lock


def test_a_manifest_group_cannot_name_a_path(world):
    labs, work, _fake = world
    edit_spec(labs / "mini", lambda spec: (spec["manifests"].update({"../../x": ["secret.yaml.j2"]}),
                                           spec["steps"][0].update(apply="../../x")))
    result = run_lab("render", "mini", "--out", "out")
    assert result.exit_code == 2 and "manifests: '../../x' does not match" in result.stderr, result.stderr
    assert files(work) == [] and not (work.parent / "x").exists()


def test_a_stack_file_cannot_name_a_path_outside_the_stack(world):
    labs, work, _fake = world
    edit_spec(labs / "inject-mtls", lambda spec: spec["stack"]["files"].update({"../../escaped.cfg": "haproxy.cfg.j2"}))
    result = run_lab("render", "inject-mtls", "--out", "out")
    assert result.exit_code == 2 and "must be a relative path inside the stack folder" in result.stderr
    assert files(work) == []


@pytest.mark.parametrize("service", [
    {"privileged": True}, {"cap_add": ["SYS_ADMIN"]}, {"pid": "host"}, {"network_mode": "host"}, {"devices": ["/dev/sda"]},
    {"volumes": ["/:/host"]}, {"volumes": ["/var/run/docker.sock:/var/run/docker.sock"]}, {"volumes": ["../../..:/up"]},
    {"volumes": [{"type": "bind", "source": "/etc", "target": "/etc2"}]}, {"security_opt": ["apparmor=unconfined"]},
], ids=lambda s: next(iter(s)))
def test_a_labs_stack_cannot_reach_the_host(world, service):
    labs, work, _fake = world
    compose = labs / "inject-mtls/templates/compose.yaml.j2"
    text = compose.read_text()
    if "volumes" in service:  # beside the service's own volumes
        entries = "".join(f"\n      - {json.dumps(v)}" for v in service["volumes"])
        compose.write_text(text.replace("      - ./echo.py:/app/echo.py:ro", "      - ./echo.py:/app/echo.py:ro" + entries))
    else:
        extra = "\n".join(f"    {k}: {json.dumps(v)}" for k, v in service.items())
        compose.write_text(text.replace("  echo:\n    image: {{ images.echo }}\n", "  echo:\n    image: {{ images.echo }}\n" + extra + "\n"))
    result = run_lab("render", "inject-mtls", "--out", "out")
    assert result.exit_code == 2 and "services.echo." in result.stderr, result.stderr
    assert files(work) == []


def test_the_tool_labels_everything_its_stack_makes(world):
    _labs, work, _fake = world
    assert run_lab("render", "inject-mtls", "--out", "out").exit_code == 0
    import yaml

    doc = yaml.safe_load((work / "out/stack/compose.yaml").read_text())
    owner = {"app.kubernetes.io/managed-by": "lab", "lab.dev/lab": "inject-mtls", "lab.dev/instance": "inject-mtls"}
    assert all(service["labels"].items() >= owner.items() for service in doc["services"].values())


def test_parallel_issuers_never_leave_a_mixed_pki(world):
    """Four `lab certs --force` at once: each either commits a whole PKI or is refused; what is on disk chains."""
    labs, work, _fake = world
    env = {**os.environ, "LAB_PATH": str(labs)}
    argv = [sys.executable, "-m", "orchestrator", "certs", "mini", "--force"]
    for _round in range(3):
        procs = [subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
        outcomes = [(p.wait(120), p.stderr.read()) for p in procs]
        assert all(code == 0 or (code == 2 and ("changed while this command ran" in err or "being written by another" in err))
                   for code, err in outcomes), outcomes
        assert any(code == 0 for code, _ in outcomes)
        pki = work / "certs/mini"
        for leaf in ("server", "client"):
            openssl("verify", "-CAfile", str(pki / "ca.crt"), "-untrusted", str(pki / "intermediate.crt"), str(pki / f"{leaf}.crt"))
            cert = openssl("x509", "-in", str(pki / f"{leaf}.crt"), "-noout", "-pubkey").stdout
            key = openssl("pkey", "-in", str(pki / f"{leaf}.key"), "-pubout").stdout
            assert cert == key  # the key on disk is the certificate's


@pytest.mark.parametrize("special", ["dev-zero", "fifo", "folder", "urandom-link"])
@pytest.mark.parametrize("as_", ["values", "images"])
def test_a_values_or_images_file_that_is_not_a_regular_file_is_refused_at_once(world, special, as_):
    _labs, work, _fake = world
    path = work / "input.yaml"
    if special == "dev-zero":
        path = "/dev/zero"
    elif special == "fifo":
        os.mkfifo(path)
    elif special == "folder":
        path.mkdir()
    else:
        os.symlink("/dev/urandom", path)
    start = time.monotonic()
    result = run_lab("show", "mini", "-f" if as_ == "values" else "--images", str(path))
    assert time.monotonic() - start < TIME_BOUND
    assert result.exit_code == 2 and "must be a regular file" in result.stderr, result.stderr


def test_a_lab_spec_that_is_a_fifo_does_not_hang_the_listing(world):
    labs, _work, _fake = world
    (labs / "stuck").mkdir()
    os.mkfifo(labs / "stuck/lab.yaml")
    start = time.monotonic()
    result = run_lab("list")
    assert time.monotonic() - start < TIME_BOUND
    assert result.exit_code == 0 and "mini" in result.stdout and "lab stuck is invalid" in result.stderr


@pytest.mark.parametrize("special", ["dev-zero", "fifo", "folder"])
def test_certs_show_reads_only_regular_files(world, special):
    _labs, work, _fake = world
    path = {"dev-zero": "/dev/zero", "fifo": str(work / "fifo"), "folder": str(work)}[special]
    if special == "fifo":
        os.mkfifo(path)
    start = time.monotonic()
    result = run_lab("certs", "show", path)
    assert time.monotonic() - start < TIME_BOUND
    assert result.exit_code == 2 and ("must be a regular file" in result.stderr or "no certificate files" in result.stderr), result.stderr


def test_a_pki_file_that_is_a_folder_is_named(world):
    _labs, work, _fake = world
    (work / "certs/mini/ca.crt").mkdir(parents=True)
    result = run_lab("certs", "verify", "mini")
    assert result.exit_code == 2 and "ca.crt: PKI file must be a regular file, not a folder" in result.stderr, result.stderr


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def member(name: str, kind=tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


BUNDLES = [
    ("not a tar", b"hello", "not a tar archive"),
    ("no manifest", tar_bytes([(member("layer.tar"), b"x")]), "holds no manifest.json"),
    ("absolute member", tar_bytes([(member("manifest.json"), b"[]"), (member("/etc/cron.d/x"), b"x")]), "is not a relative path inside"),
    ("dotdot member", tar_bytes([(member("manifest.json"), b"[]"), (member("a/../../x"), b"x")]), "is not a relative path inside"),
    ("link out", tar_bytes([(member("manifest.json"), b"[]"), (member("a/layer.tar", tarfile.SYMTYPE, "../../../etc/passwd"), b"")]),
     "links outside the bundle"),
    ("device", tar_bytes([(member("manifest.json"), b"[]"), (member("dev", tarfile.CHRTYPE), b"")]), "is not a file or folder"),
]


@pytest.mark.parametrize("case", BUNDLES, ids=[c[0] for c in BUNDLES])
def test_images_load_checks_the_bundle_before_docker_sees_it(world, case):
    _labs, work, fake = world
    _id, content, expected = case
    (work / "bundle.tar").write_bytes(content)
    result = run_lab("images", "load", "bundle.tar")
    assert result.exit_code == 2 and expected in result.stderr, result.stderr
    assert fake_calls(fake) == []


def test_images_load_of_a_fifo_neither_hangs_nor_leaves_a_docker_load(world):
    _labs, work, fake = world
    os.mkfifo(work / "bundle.tar")
    start = time.monotonic()
    result = run_lab("images", "load", "bundle.tar")
    assert time.monotonic() - start < TIME_BOUND
    assert result.exit_code == 2 and "must be a regular file" in result.stderr and fake_calls(fake) == []


def test_a_bundle_listing_cannot_point_outside_the_bundle(world, tmp_path, monkeypatch):
    _labs, _work, _fake = world
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    listing = (REPO.parent / "shared/upstream/SHA256SUMS")
    if not listing.is_file():
        pytest.skip("the project's offline bundle (../shared/upstream) is not beside the checkout")
    digest = next(line.split()[0] for line in listing.read_text().splitlines() if "metallb" in line)
    (bundle / "SHA256SUMS").write_text(f"{digest}  ../../../../etc/passwd\n")
    monkeypatch.setenv("LAB_BUNDLE", str(bundle))
    monkeypatch.setenv("LAB_CACHE", str(tmp_path / "cache"))
    result = run_lab("render", "webhook-ca-repair", "--out", "out")
    assert result.exit_code == 2 and "SHA256SUMS: line 1" in result.stderr and "is not a relative path inside" in result.stderr, result.stderr
