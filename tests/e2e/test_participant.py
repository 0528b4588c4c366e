"""Participant mode on the docker runtime, as a person in a workshop drives it: the lab brought up to a stage, the
stage done by hand with kubectl (the emulated Cilium follows what the API server holds), checked, broken and
looked at with `lab exec` and `lab logs`, rewound with `reset --to` (what the stage made is gone from the API),
caught up with `solve`."""

from __future__ import annotations

import json

from tests.e2e.conftest import labelled, lab, lab_kubectl, up_args

CNP = ("mtls-inject", "ciliumnetworkpolicies", "mtls-injection-policy")
IP_PORT = "172.18.255.249:8083"  # haproxy, as the lab's values give it


def _stages(labdir) -> dict[str, str]:
    result = lab(labdir, "steps", "inject-mtls", "-o", "json")
    assert result.returncode == 0, result.stderr
    return {s["stage"]: s["status"] for s in json.loads(result.stdout)["stages"]}


def _cilium_objects(labdir) -> list[str]:
    listed = lab_kubectl(labdir, "inject-mtls", "get", "ciliumnetworkpolicies,ciliumclusterwideenvoyconfigs", "-A", "-o", "name")
    return listed.stdout.split()


def test_a_stage_by_hand_checked_broken_rewound_and_solved(labdir, docker_engine):
    up = lab(labdir, *up_args("--until", "inject"))
    assert up.returncode == 0, up.stdout + up.stderr
    assert "ready for stage inject" in up.stdout and "`lab check inject-mtls inject`" in up.stdout
    assert _stages(labdir) == {"direct": "done", "inject": "to do"}
    assert _cilium_objects(labdir) == []  # left to the participant

    # Not done yet: the check fails, tells what it saw and the author's hint, and the lab stays up.
    failed = lab(labdir, "check", "inject-mtls", "inject", "--wait", "2")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "plain-http-injected failed:" in failed.stdout and "hint: A refused or reset connection" in failed.stdout
    assert '"exitCode": 52' in failed.stdout  # what was seen, whole
    assert _stages(labdir) == {"direct": "done", "inject": "failed"}
    assert "lab-inject-mtls-curl" in labelled(docker_engine)["containers"]

    # Look around as the participant would: the pod by the lab's name for it, its exit status passed on.
    direct = lab(labdir, "exec", "inject-mtls", "curl", "--", "curl", "-s", "--cacert", "/certs/ca.crt", "--cert", "/certs/tls.crt",
                 "--key", "/certs/tls.key", f"https://{IP_PORT}/")
    assert direct.returncode == 0 and json.loads(direct.stdout)["headers"]["x-ssl-client-cn"] == "mtls-inject-client", direct.stderr
    plain = lab(labdir, "exec", "inject-mtls", "curl", "--", "curl", "-sS", "-m", "5", f"http://{IP_PORT}/")
    assert plain.returncode == 52, plain.stdout + plain.stderr  # no redirect yet: plain HTTP meets haproxy's TLS
    assert lab(labdir, "exec", "inject-mtls", "mtls-inject/curl", "--", "sh", "-c", "echo marker-of-the-test > /proc/1/fd/1").returncode == 0
    logs = lab(labdir, "logs", "inject-mtls", "curl", "--tail", "5")
    assert logs.returncode == 0 and "marker-of-the-test" in logs.stdout, logs.stderr
    unknown = lab(labdir, "exec", "inject-mtls", "nope", "--", "true")
    assert unknown.returncode == 2 and "its pods and workloads: mtls-inject/curl" in unknown.stderr

    # The stage by hand: the participant applies the Cilium objects with kubectl; the check passes.
    applied = lab_kubectl(labdir, "inject-mtls", "apply", "-f", str(labdir / ".lab/inject-mtls/rendered/manifests/cilium"))
    assert "ciliumnetworkpolicy.cilium.io/mtls-injection-policy created" in applied.stdout
    passed = lab(labdir, "check", "inject-mtls", "inject")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "stage inject done; the lab is complete" in passed.stdout
    assert _stages(labdir) == {"direct": "done", "inject": "done"}

    # A hand deletion is followed too: the redirect goes with the policy.
    lab_kubectl(labdir, "inject-mtls", "-n", CNP[0], "delete", CNP[1], CNP[2])
    assert lab(labdir, "exec", "inject-mtls", "curl", "--", "curl", "-sS", "-m", "5", f"http://{IP_PORT}/").returncode == 52
    assert lab(labdir, "verify", "inject-mtls", "--wait", "2").returncode == 1

    # Rewind: what the stage made is gone from the API, the stage is to do again; solve catches up.
    lab_kubectl(labdir, "inject-mtls", "apply", "-f", str(labdir / ".lab/inject-mtls/rendered/manifests/cilium"))
    assert len(_cilium_objects(labdir)) == 2
    reset = lab(labdir, "reset", "inject-mtls", "--to", "inject")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert _cilium_objects(labdir) == [] and _stages(labdir) == {"direct": "done", "inject": "to do"}
    assert "lab-inject-mtls-envoy" not in labelled(docker_engine)["containers"]
    solved = lab(labdir, "solve", "inject-mtls")
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert "3 passed, 0 failed" in solved.stdout and len(_cilium_objects(labdir)) == 2
    assert _stages(labdir) == {"direct": "done", "inject": "done"}
    assert lab(labdir, "check", "inject-mtls").returncode == 0

    # An earlier stage cannot be solved over a later one; a reset to it first.
    behind = lab(labdir, "solve", "inject-mtls", "direct")
    assert behind.returncode == 2 and "`lab reset inject-mtls --to direct` first" in behind.stderr, behind.stderr


def test_a_failed_check_leaves_the_lab_up_to_look_at(labdir, docker_engine):
    """Without --down-on-failure: `--skip` a step to see what fails without it, and the lab is there to inspect."""
    result = lab(labdir, *up_args("--skip", "cilium-objects", "--wait", "10"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the lab stays up to look at: `lab steps inject-mtls`" in result.stdout
    assert "lab-inject-mtls-curl" in labelled(docker_engine)["containers"]
    assert _stages(labdir) == {"direct": "done", "inject": "failed"}  # its checks failed (a stage only skipped says "skipped")
    assert lab(labdir, "exec", "inject-mtls", "curl", "--", "true").returncode == 0
    assert lab(labdir, "solve", "inject-mtls").returncode == 0  # the skipped stage, done as up would
    assert _stages(labdir) == {"direct": "done", "inject": "done"}
    assert lab(labdir, "down", "inject-mtls").returncode == 0
    assert labelled(docker_engine)["containers"] == []
