"""The docker runtime's CiliumNetworkPolicy ingress emulation: the Star Wars policies as published, parsed and
turned into iptables rules, and their HTTP rules run by the real Envoy (allowed call forwarded, anything else
403 Access denied, each request in the access log); policy features it does not emulate are refused by name."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from orchestrator.kube.cilium import ingress_policy
from orchestrator.network.emulated.policy import ENVOY_PORT, envoy_argv, l7_bootstrap, iptables_script
from orchestrator.errors import BadInput
from tests.integration.conftest import envoy_binary

UPSTREAM = Path(__file__).resolve().parents[3] / "shared" / "upstream" / "cilium-examples"


def published(name: str) -> dict:
    return yaml.safe_load((UPSTREAM / name).read_text())


def pod(name: str, ip: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "labels": labels}, "status": {"podIP": ip}}


PODS = [pod("tiefighter", "10.0.0.2", org="empire", **{"class": "tiefighter"}), pod("xwing", "10.0.0.3", org="alliance", **{"class": "xwing"}),
        pod("deathstar-1", "10.0.0.4", org="empire", **{"class": "deathstar"})]


def test_l3_l4_policy_allows_the_empire_and_drops_each_other_pod_by_name():
    policy = ingress_policy(published("sw_l3_l4_policy.yaml"))
    assert policy.selector == "org=empire,class=deathstar" and policy.namespace == "default"
    rules = iptables_script([policy], PODS)
    assert "-A LAB-INGRESS -s 10.0.0.2/32 -p tcp --dport 80 -j ACCEPT" in rules  # tiefighter
    assert "-A LAB-INGRESS -s 10.0.0.4/32 -p tcp --dport 80 -j ACCEPT" in rules  # the other Death Star (org=empire too)
    assert "-s 10.0.0.3/32 -p tcp --dport 80 -j ACCEPT" not in rules  # xwing
    assert '-A LAB-INGRESS -s 10.0.0.3/32 -m comment --comment "default/xwing" -j DROP' in rules
    assert rules.index("ACCEPT") < rules.index("DROP") and "REDIRECT" not in rules


def test_l7_policy_redirects_allowed_sources_to_envoy():
    policy = ingress_policy(published("sw_l3_l4_l7_policy.yaml"))
    assert policy.allows[0].http[0].method == "POST" and policy.allows[0].http[0].path == "/v1/request-landing"
    rules = iptables_script([policy], PODS)
    assert f"-A LAB-INGRESS-L7 -s 10.0.0.2/32 -p tcp --dport 80 -j REDIRECT --to-ports {ENVOY_PORT}" in rules
    assert f"-A LAB-INGRESS -s 10.0.0.2/32 -p tcp --dport {ENVOY_PORT} -j ACCEPT" in rules
    assert "-s 10.0.0.3/32 -p tcp --dport 80 -j REDIRECT" not in rules


@pytest.mark.parametrize("change, field", [
    (lambda spec: spec["ingress"][0].update(fromCIDR=["10.0.0.0/8"]), "spec.ingress[0]: fromCIDR is not emulated"),
    (lambda spec: spec["ingress"][0]["fromEndpoints"][0].update(matchExpressions=[{"key": "org", "operator": "Exists"}]),
     "spec.ingress[0].fromEndpoints[0]: matchExpressions is not emulated"),
    (lambda spec: spec.update(ingressDeny=[{"fromEndpoints": [{}]}]), "spec.ingressDeny is not emulated"),
    (lambda spec: spec["ingress"][0]["toPorts"][0]["rules"].update(kafka=[{"topic": "t"}]), "rules: kafka rules are not emulated"),
    (lambda spec: spec["ingress"][0]["toPorts"][0]["rules"]["http"][0].update(headers=["X-Has: 1"]),
     "rules.http[0]: headers is not emulated"),
    (lambda spec: spec["ingress"][0]["toPorts"][0]["ports"][0].update(protocol="UDP"), "ports[0]: the docker runtime emulates numbered TCP ports only"),
])
def test_what_is_not_emulated_is_refused_by_name(change, field):
    cnp = published("sw_l3_l4_l7_policy.yaml")
    change(cnp["spec"])
    with pytest.raises(BadInput) as err:
        ingress_policy(cnp)
    assert "CiliumNetworkPolicy default/rule1: " in err.value.message and field in err.value.message


def logged_within(log: Path, count: int, seconds: float = 2) -> None:
    """The access log is the L7 flow record a check reads within its timeout: each request must be in it at once."""
    deadline = time.monotonic() + seconds
    while sum(line.startswith("{") for line in log.read_text().splitlines()) < count:
        assert time.monotonic() < deadline, f"request {count} not in Envoy's access log after {seconds}s"
        time.sleep(0.05)


def test_envoy_answers_as_cilium_s_proxy(tmp_path):
    """The bootstrap run by the real Envoy in front of a local upstream: the allowed call reaches it, any other is
    answered 403 `Access denied` by Envoy itself, and both are in the access log."""
    hits = []

    class Upstream(BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "12")
            self.end_headers()
            self.wfile.write(b"Ship landed\n")

        do_PUT = do_POST

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    cnp = published("sw_l3_l4_l7_policy.yaml")
    cnp["spec"]["ingress"][0]["toPorts"][0]["ports"][0]["port"] = str(port)
    (tmp_path / "envoy.yaml").write_text(json.dumps(l7_bootstrap([ingress_policy(cnp)])))  # as the runtime writes it
    log = (tmp_path / "envoy.log").open("w")
    envoy = subprocess.Popen(envoy_argv(str(tmp_path / "envoy.yaml"), envoy_binary()), stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            assert envoy.poll() is None, (tmp_path / "envoy.log").read_text()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", ENVOY_PORT), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        base = f"http://127.0.0.1:{ENVOY_PORT}"
        landed = subprocess.run(["curl", "-s", "-X", "POST", "-w", "\n%{http_code}", f"{base}/v1/request-landing"], capture_output=True, text=True)
        assert landed.stdout == "Ship landed\n\n200"
        logged_within(tmp_path / "envoy.log", 1)
        denied = subprocess.run(["curl", "-s", "-X", "PUT", "-w", "\n%{http_code}", f"{base}/v1/exhaust-port"], capture_output=True)
        assert denied.stdout == b"Access denied\r\n\n403"
        logged_within(tmp_path / "envoy.log", 2)
        wrong_method = subprocess.run(["curl", "-s", "-X", "GET", "-o", "/dev/null", "-w", "%{http_code}", f"{base}/v1/request-landing"],
                                      capture_output=True, text=True)
        assert wrong_method.stdout == "403"
        logged_within(tmp_path / "envoy.log", 3)
        assert hits == ["/v1/request-landing"]  # the denied calls never reached the upstream
    finally:
        envoy.terminate()
        envoy.wait(timeout=10)
        server.shutdown()
    logged = [json.loads(line) for line in (tmp_path / "envoy.log").read_text().splitlines() if line.startswith("{")]
    assert [(r["method"], r["path"], r["code"]) for r in logged] == [("POST", "/v1/request-landing", 200), ("PUT", "/v1/exhaust-port", 403),
                                                                      ("GET", "/v1/request-landing", 403)]
    assert all(r["source"] == "127.0.0.1" for r in logged)
