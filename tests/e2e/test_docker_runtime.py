"""`lab up inject-mtls --runtime docker` for real: checks pass, negative proofs fail, nothing is left behind."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest
import yaml

from tests.e2e.conftest import kubectl, labelled, lab, parse_json, up_args

NOTHING = {"containers": [], "networks": [], "volumes": []}


def test_up_verify_status_converge_down(labdir, docker_engine):
    tmp = labdir / "tmp"  # the temporary folder of this `up` (and of the node agent it starts), empty before
    tmp.mkdir()
    result = lab(labdir, *up_args("-o", "json", "--junit", "up.xml"), env={**os.environ, "TMPDIR": str(tmp)})
    assert result.returncode == 0, result.stdout + result.stderr
    report = parse_json(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["passed"] and report["summary"] == {"passed": 6, "failed": 0, "skipped": 0}
    assert checks["direct-mtls-with-cert"]["seen"]["status"] == 200
    assert checks["direct-mtls-with-cert"]["seen"]["json"]["headers.x-ssl-client-cn"] == "mtls-inject-client"
    assert checks["direct-mtls-without-cert"]["seen"]["exitCode"] == 56
    assert "certificate required" in checks["direct-mtls-without-cert"]["seen"]["error"]
    assert checks["plain-http-injected"]["seen"]["json"]["headers.x-ssl-client-cn"] == "mtls-inject-client"
    assert checks["foreign-server-refused"]["seen"]["status"] == 503
    assert "CERTIFICATE_VERIFY_FAILED" in checks["foreign-server-refused"]["seen"]["body"]
    assert checks["hubble-to-proxy"]["seen"]["flows"] >= 1
    assert ET.parse(labdir / "up.xml").getroot().find("testsuite").get("failures") == "0"

    objects = labelled(docker_engine)
    control_plane = {f"lab-inject-mtls-{c}" for c in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")}
    # the curl pod's container, and its never-started helper that writes the pod's volumes
    assert set(objects["containers"]) == control_plane | {"lab-inject-mtls-curl", "lab-inject-mtls-curl-volumes", "lab-inject-mtls-envoy", "lab-inject-mtls-datapath",
                                                          "lab-inject-mtls-haproxy-1", "lab-inject-mtls-echo-1"}

    # The real API server holds the lab: the pod Running with its container's IP, the Cilium objects as applied.
    kubeconfig = lab(labdir, "kubeconfig", "inject-mtls").stdout.strip()
    # The client's discovery cache lives in the instance's state, which `down` removes, not in /tmp.
    server = hashlib.md5(yaml.safe_load(open(kubeconfig))["clusters"][0]["cluster"]["server"].encode(), usedforsecurity=False).hexdigest()
    assert (labdir / f".lab/inject-mtls/discovery-{server}.json").is_file()
    assert not list(tmp.glob("osrcp-*"))  # the client's default: a file per API server address, never removed
    pods = kubectl(kubeconfig, "get", "pods", "-n", "mtls-inject", "-o", "json")["items"]
    ip = docker_engine.containers.get("lab-inject-mtls-curl").attrs["NetworkSettings"]["Networks"]["kind"]["IPAddress"]
    assert [(p["metadata"]["name"], p["status"]["phase"], p["status"]["podIP"]) for p in pods] == [("curl", "Running", ip)]
    assert kubectl(kubeconfig, "version")["serverVersion"]["gitVersion"] == "v1.35.4"
    # The controllers' secure ports serve certificates from the cluster CA (not the self-signed pair each makes without one),
    # at the control-plane node's address: the components share etcd's network namespace, as on kubeadm's node.
    cluster_ca = str(labdir / ".lab/inject-mtls/cluster-pki/ca.crt")
    node = docker_engine.containers.get("lab-inject-mtls-etcd")
    address = node.attrs["NetworkSettings"]["Networks"]["kind"]["IPAddress"]
    assert docker_engine.containers.get("lab-inject-mtls-kube-apiserver").attrs["HostConfig"]["NetworkMode"] == f"container:{node.id}"
    for component, port in (("kube-controller-manager", 10257), ("kube-scheduler", 10259)):
        joined = docker_engine.containers.get(f"lab-inject-mtls-{component}").attrs["HostConfig"]["NetworkMode"]
        assert joined == f"container:{node.id}", component
        with socket.create_connection((address, port), timeout=5) as raw, \
                ssl.create_default_context(cafile=cluster_ca).wrap_socket(raw, server_hostname="inject-mtls-control-plane") as tls:
            tls.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert tls.recv(4096).split(b"\r\n")[0] == b"HTTP/1.0 200 OK", component
    cilium = kubectl(kubeconfig, "get", "ccec,cnp", "-A", "-o", "json")["items"]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in cilium) == [
        ("CiliumClusterwideEnvoyConfig", "mtls-injection-envoy"), ("CiliumNetworkPolicy", "mtls-injection-policy")]

    # The walkthrough, verified: every check of the guide marked with what this run saw.
    guide = lab(labdir, "guide", "inject-mtls", "--results", "--out", "guide")
    assert guide.returncode == 0, guide.stderr
    html = (labdir / "guide/guide.html").read_text()
    assert html.count('class="badge passed"') == 6 and 'class="badge failed"' not in html
    assert "runtime <code>docker</code>" in html and "&#34;status&#34;: 503" in html

    status = lab(labdir, "status")
    assert status.returncode == 0 and "inject-mtls" in status.stdout and " up " in status.stdout
    assert "lab-inject-mtls-envoy running" in status.stdout and " ok " in status.stdout

    verify = lab(labdir, "verify", "inject-mtls")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "3 passed, 0 failed" in verify.stdout

    again = lab(labdir, *up_args())
    assert again.returncode == 0, again.stdout + again.stderr
    assert "6 passed, 0 failed" in again.stdout

    assert lab(labdir, "down", "inject-mtls").returncode == 0
    assert labelled(docker_engine) == NOTHING
    assert not (labdir / ".lab/inject-mtls").exists()  # state, rendered files (they hold keys) and kubeconfig are gone
    second = lab(labdir, "down", "inject-mtls")
    assert second.returncode == 0 and "nothing recorded, nothing to remove" in second.stdout


def test_without_the_envoy_step_plain_http_fails(labdir, docker_engine):
    # --wait: the failing checks retry 10 s, not their 60/30/20 s; nothing here heals them, and the others pass at once.
    result = lab(labdir, *up_args("--skip", "cilium-objects", "--junit", "report.xml", "--down-on-failure", "--wait", "10"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert all(name in result.stderr for name in ("plain-http-injected", "foreign-server-refused", "hubble-to-proxy"))
    suite = ET.parse(labdir / "report.xml").getroot().find("testsuite")
    assert suite.get("failures") == "3"
    failure = suite.find("testcase[@name='plain-http-injected']/failure")
    assert failure is not None and "expected" in failure.get("message") + failure.text
    assert "logs:" in failure.text
    logs = sorted((labdir / ".lab/logs/inject-mtls").iterdir())
    assert logs and (logs[-1] / "compose.log").stat().st_size > 0
    assert labelled(docker_engine) == NOTHING  # torn down after the failure (--down-on-failure, as CI asks)
    guide = lab(labdir, "guide", "inject-mtls", "--results", "--out", "guide")  # the results outlive the teardown
    assert guide.returncode == 0, guide.stderr
    html = (labdir / "guide/guide.html").read_text()
    failed = html[html.index('id="step-plain-http-injected"'):].split("</section>")[0]
    assert 'class="badge failed"' in failed and "exitCode" in failed
    assert html.count('class="badge passed"') == 3 and 'class="badge not_run"' not in html


def test_foreign_server_certificate_is_refused_by_envoy(labdir, docker_engine, tmp_path):
    assert lab(labdir, *up_args()).returncode == 0
    foreign = lab(labdir, "certs", "inject-mtls", "--out", str(tmp_path / "foreign"))
    assert foreign.returncode == 0
    bundle = labdir / ".lab/inject-mtls/rendered/stack/certs/server.pem"
    bundle.write_bytes((tmp_path / "foreign/server.pem").read_bytes())
    docker_engine.containers.get("lab-inject-mtls-haproxy-1").restart(timeout=2)
    result = lab(labdir, "verify", "inject-mtls", "--junit", "verify.xml", "--wait", "10")  # the failing check retries 10 s, not 60
    assert result.returncode == 1, result.stdout + result.stderr
    case = ET.parse(labdir / "verify.xml").getroot().find("testsuite/testcase[@name='plain-http-injected']")
    assert case.find("failure") is not None
    # the client only sees a reset connection; the message names the proxy's refusal of the certificate
    assert "the proxy refused the upstream's certificate: its certificate did not verify" in case.find("failure").get("message")
    assert "curl" in case.find("system-out").text
    assert "logs collected in" in result.stdout
    envoy_logs = list((labdir / ".lab/logs/inject-mtls").glob("*/lab-inject-mtls-envoy.log"))
    assert envoy_logs


def test_interrupted_up_is_cleaned_by_down(labdir, docker_engine):
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", *up_args()], cwd=labdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while not labelled(docker_engine)["containers"]:
        assert time.monotonic() < deadline and proc.poll() is None, "up finished or stalled before creating anything"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert labelled(docker_engine)["containers"]  # something was left behind by the crash
    result = lab(labdir, "down", "inject-mtls")
    assert result.returncode == 0, result.stderr
    assert labelled(docker_engine) == NOTHING
    assert not node_agents("inject-mtls")
    assert not node_agents("inject-mtls")  # the node agent went with the rest


def node_agents(instance: str) -> list[int]:
    import subprocess as sp

    out = sp.run(["pgrep", "-f", f"orchestrator.runtimes.docker.node .*--instance {instance} "], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


@pytest.mark.engine_wide
def test_down_leaves_a_kind_network_in_use(labdir, docker_engine):
    """A `kind` network that others use (a kind cluster) is not removed by `down`."""
    assert lab(labdir, *up_args()).returncode == 0
    bystander = docker_engine.containers.run("lab.local/client:test", ["sleep", "60"], network="kind", detach=True, name="kind-bystander")
    try:
        assert lab(labdir, "down", "inject-mtls").returncode == 0
        assert [n.name for n in docker_engine.networks.list(names=["kind"])] == ["kind"]
        assert labelled(docker_engine)["containers"] == []
    finally:
        bystander.remove(force=True)
        net = docker_engine.networks.list(names=["kind"])
        if net:
            net[0].remove()


@pytest.mark.engine_wide
def test_existing_network_with_another_subnet_is_a_clear_error(labdir, docker_engine):
    import docker.types

    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="172.30.0.0/16")])
    network = docker_engine.networks.create("kind", driver="bridge", ipam=ipam)
    try:
        result = lab(labdir, *up_args())
        assert result.returncode == 3, result.stdout + result.stderr  # the preflight finds it, before anything is made
        assert "network kind: exists with 172.30.0.0/16; 172.18.255.249 is outside it" in result.stderr
        assert "--set network.subnet=172.30.0.0/16" in result.stderr
        assert labelled(docker_engine)["containers"] == []
    finally:
        network.remove()
