"""The lab's own http and tls checks, run by the real check kinds against real haproxy on loopback: they
pass on the working setup and fail, saying why, when haproxy serves a certificate of another CA."""

from __future__ import annotations

import shutil
from dataclasses import replace
import subprocess
from pathlib import Path

from orchestrator.checks.registry import default_checks
from orchestrator.checks.runner import run_check
from orchestrator.providers.process import ExecResult
from tests.integration.conftest import render_loopback


class HostRuntime:
    """Runs a check's command on this machine, where the loopback haproxy listens (the pod's stand-in)."""

    name = "docker"

    def exec(self, pod, argv):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return ExecResult(result.returncode, result.stdout, result.stderr)

    @property
    def network(self):  # the scripted flows and explanations play the runtime's network plugin too
        return self

    def explain(self, pod, since):
        return ""


def client_files(pki: Path, dest: Path) -> Path:
    """The client secret as the pod mounts it: tls.crt, tls.key, ca.crt."""
    dest.mkdir(parents=True)
    shutil.copy(pki / "client-chain.crt", dest / "tls.crt")
    shutil.copy(pki / "client.key", dest / "tls.key")
    shutil.copy(pki / "ca.crt", dest / "ca.crt")
    return dest


def checks_of(tmp_path: Path, foreign_server: bool) -> dict[str, object]:
    certs = tmp_path / "client-certs"
    lab = render_loopback(tmp_path / "lab", (f"client.certDir={certs}",))
    client_files(lab.pki, certs)
    if foreign_server:
        foreign = render_loopback(tmp_path / "foreign")
        (lab.out / "stack/certs/server.pem").write_bytes((foreign.pki / "server.pem").read_bytes())
    lab.start_echo()
    lab.start_haproxy()
    try:
        # The lab's checks as they are, with short timeouts: a failing one would otherwise retry for a minute.
        steps = {s.name: replace(s, params=replace(s.check, timeout=3)) for s in lab.lab.steps if s.check}
        wanted = ("direct-mtls-with-cert", "direct-mtls-without-cert", "server-certificate")
        return {name: run_check(steps[name], HostRuntime(), default_checks()) for name in wanted}
    finally:
        lab.stop()


def test_the_lab_checks_pass_against_real_haproxy(tmp_path):
    results = checks_of(tmp_path, foreign_server=False)
    assert {name: r.status for name, r in results.items()} == {name: "passed" for name in results}, {n: r.message for n, r in results.items()}
    assert results["server-certificate"].seen["issuerCN"] == "Lab Intermediate CA"


def test_the_lab_checks_fail_when_haproxy_serves_a_foreign_certificate(tmp_path):
    results = checks_of(tmp_path, foreign_server=True)
    tls = results["server-certificate"]
    assert tls.status == "failed" and "verification" in tls.message and "expected ok" in tls.message
    http = results["direct-mtls-with-cert"]
    assert http.status == "failed" and "curl exit code" not in http.message and "curl failed (exit 60)" in http.message


def test_the_tls_check_sends_the_client_chain_every_time(tmp_path):
    """haproxy trusts only the root: the handshake holds only if the intermediate is sent. openssl's -cert alone
    sends just the leaf (and then passes only by luck of haproxy's threads); every attempt must pass at once."""
    certs = tmp_path / "client-certs"
    lab = render_loopback(tmp_path / "lab", (f"client.certDir={certs}",))
    client_files(lab.pki, certs)
    lab.start_echo()
    lab.start_haproxy()
    try:
        step = next(s for s in lab.lab.steps if s.name == "server-certificate")
        step = replace(step, params=replace(step.check, timeout=1))
        results = [run_check(step, HostRuntime(), default_checks()) for _ in range(12)]
    finally:
        lab.stop()
    assert [(r.status, r.attempts) for r in results] == [("passed", 1)] * 12, [r.message for r in results if not r.passed]
