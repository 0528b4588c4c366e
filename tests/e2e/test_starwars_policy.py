"""`lab up starwars-policy --runtime docker`: the Star Wars demo as published on the real control plane, its two
policies enforced by the emulation (iptables in the Death Star pods' namespaces, a real Envoy for the HTTP
rule); each check can fail: without a policy nothing is dropped or denied; nothing left after `down`."""

from __future__ import annotations

import json
import subprocess
import time

from tests.e2e.conftest import KUBECTL, REPO, labelled, lab

INSTANCE_GROUP = "starwars-policy"  # the tier's side-by-side groups: tests/e2e/conftest.py

NOTHING = {"containers": [], "networks": [], "volumes": []}
DEATHSTAR = "deathstar.default.svc.cluster.local"


def _ship(ship: str, method: str, path: str) -> str:
    """What a ship's request meets now, sent with a plain `docker exec` (no lab command follows the API first)."""
    run = subprocess.run(["docker", "exec", f"lab-starwars-policy-{ship}", "curl", "-s", "-m", "2", f"-X{method}", f"{DEATHSTAR}{path}"],
                         capture_output=True, text=True, timeout=30)
    return run.stdout if run.returncode == 0 else f"exit {run.returncode}"


def _becomes(ship: str, method: str, path: str, expected: str, within: float = 5.0) -> None:
    """The emulated Cilium's agent loop follows the API every second: the ship's traffic changes within seconds."""
    start, seen = time.monotonic(), ""
    while time.monotonic() - start < within:
        seen = _ship(ship, method, path)
        if expected in seen:
            return
        time.sleep(0.2)
    raise AssertionError(f"{ship} {method} {path}: still {seen[:200]!r} after {within}s, expected {expected!r}")
UP = ["up", "starwars-policy", "--runtime", "docker", "--images", "images.yaml"]


def test_star_wars_policies(tmp_path, docker_engine):
    (tmp_path / "images.yaml").write_text((REPO / "images.local.yaml").read_text())
    try:
        result = lab(tmp_path, *UP, "--output", "json")
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
        checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
        assert all(c["status"] == "passed" for c in checks.values()) and len(checks) == 10
        assert checks["xwing-dropped"]["seen"]["exitCode"] == 28
        assert checks["hubble-sees-the-drop"]["seen"]["verdicts"] == ["DROPPED"]
        assert "default/xwing -> deathstar-" in checks["hubble-sees-the-drop"]["output"]
        assert checks["exhaust-port-denied"]["seen"]["status"] == 403
        assert "default/tiefighter -> deathstar-" in checks["hubble-sees-the-l7-drop"]["output"]
        assert "PUT /v1/exhaust-port 403 (DROPPED)" in checks["hubble-sees-the-l7-drop"]["output"]

        kubeconfig = str(tmp_path / ".lab/starwars-policy/kubeconfig")
        cnp = json.loads(subprocess.run([str(KUBECTL), "--kubeconfig", kubeconfig, "get", "cnp", "rule1", "-o", "json"],
                                        capture_output=True, text=True, timeout=60, check=True).stdout)
        assert cnp["spec"]["ingress"][0]["toPorts"][0]["rules"]["http"] == [{"method": "POST", "path": "/v1/request-landing"}]

        # The policy changed through the API, by hand: its HTTP rule now allows the PUT and not the landing.
        # The emulated Cilium follows as the agent would, with no lab command running.
        assert "Access denied" in _ship("tiefighter", "PUT", "/v1/exhaust-port")
        rule = [{"op": "replace", "path": "/spec/ingress/0/toPorts/0/rules/http/0", "value": {"method": "PUT", "path": "/v1/exhaust-port"}}]
        subprocess.run([str(KUBECTL), "--kubeconfig", kubeconfig, "patch", "cnp", "rule1", "--type", "json", "-p", json.dumps(rule)],
                       check=True, capture_output=True, timeout=60)
        _becomes("tiefighter", "PUT", "/v1/exhaust-port", "Panic: deathstar exploded")
        _becomes("tiefighter", "POST", "/v1/request-landing", "Access denied")
        # Deleted: the endpoints' rules go with it, the X-wing lands, and the final checks that expect drops and
        # denials fail.
        subprocess.run([str(KUBECTL), "--kubeconfig", kubeconfig, "delete", "cnp", "rule1"], check=True, capture_output=True, timeout=60)
        _becomes("xwing", "POST", "/v1/request-landing", "Ship landed")
        broken = lab(tmp_path, "verify", "starwars-policy", "--output", "json")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        failed = {c["name"]: c for c in json.loads(broken.stdout)["checks"] if c["status"] == "failed"}
        assert {"exhaust-port-denied", "xwing-still-dropped", "hubble-sees-the-l7-drop"} <= set(failed), failed
        assert "Panic: deathstar exploded" in failed["exhaust-port-denied"]["output"]
        # `up` converges from the state it finds: the policy made again, every stage replayed and checked.
        healed = lab(tmp_path, *UP)
        assert healed.returncode == 0, healed.stdout[-4000:] + healed.stderr[-3000:]
        assert lab(tmp_path, "verify", "starwars-policy").returncode == 0
    finally:
        down = lab(tmp_path, "down", "starwars-policy")
    assert down.returncode == 0, down.stderr
    assert labelled(docker_engine, "starwars-policy") == NOTHING
