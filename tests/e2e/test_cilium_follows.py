"""The emulated Cilium follows the API server as Cilium's agent does, whether or not a lab command looks: each
Cilium object inject-mtls uses (the CiliumNetworkPolicy, the CiliumClusterwideEnvoyConfig, the Secret the CCEC
names) is created, changed and deleted with kubectl, and the pod's own traffic, sent with a plain `docker exec`
(no lab command runs), changes within seconds; a check that must then fail, fails."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import KUBECTL, labelled, lab, up_args

URL = "http://172.18.255.249:8083/"  # haproxy's mTLS frontend, as the lab's values give it
WITHIN = 5.0  # seconds: the agent's loop reads the API every second, and a new Envoy starts in about one


def _answer() -> str:
    """What the client pod's plain HTTP request meets now: haproxy's status through Envoy, or curl's exit."""
    run = subprocess.run(["docker", "exec", "lab-inject-mtls-curl", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "3", URL],
                         capture_output=True, text=True, timeout=30)
    return run.stdout if run.returncode == 0 else f"exit {run.returncode}"


def _becomes(expected, what: str) -> str:
    """Wait for the pod's traffic to change as `expected` says; the answer, once within WITHIN seconds."""
    start, seen = time.monotonic(), []
    while time.monotonic() - start < WITHIN + 5:
        seen.append(_answer())
        if expected(seen[-1]):
            assert time.monotonic() - start < WITHIN, f"{what}: the datapath followed only after {time.monotonic() - start:.1f}s"
            return seen[-1]
        time.sleep(0.2)
    raise AssertionError(f"{what}: the pod's traffic never changed (seen: {seen[-5:]})")


def _kubectl(labdir, *args: str, stdin: str | None = None) -> None:
    config = str(labdir / ".lab/inject-mtls/kubeconfig")
    subprocess.run([str(KUBECTL), "--kubeconfig", config, *args], input=stdin, capture_output=True, text=True, timeout=60, check=True)


def _foreign_client_secret() -> str:
    """The CCEC's client Secret with a certificate from a CA outside the lab's (haproxy refuses it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mtls-inject-client")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = lambda data: base64.b64encode(data).decode()  # noqa: E731
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                       "metadata": {"name": "tls-client-cert", "namespace": "cilium-secrets"},
                       "data": {"tls.crt": pem(cert.public_bytes(serialization.Encoding.PEM)), "tls.key": pem(key_pem)}})


def _check_fails(labdir, check: str) -> None:
    result = lab(labdir, "check", "inject-mtls", "inject", "--wait", "1", "-o", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    failed = {c["name"] for c in json.loads(result.stdout)["checks"] if c["status"] == "failed"}
    assert check in failed, failed


def test_each_cilium_object_created_changed_and_deleted_by_hand_is_followed(labdir, docker_engine):
    up = lab(labdir, *up_args())
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    cilium_manifests = str(labdir / ".lab/inject-mtls/rendered/manifests/cilium")
    ok = lambda answer: answer == "200"  # noqa: E731
    assert _answer() == "200"

    # The policy: deleted (no redirect: plain HTTP meets haproxy's TLS), created again, changed to another port.
    _kubectl(labdir, "-n", "mtls-inject", "delete", "cnp", "mtls-injection-policy")
    assert _becomes(lambda a: a == "exit 52", "CNP deleted") == "exit 52"
    _check_fails(labdir, "plain-http-injected")
    _kubectl(labdir, "apply", "-f", cilium_manifests)
    _becomes(ok, "CNP created")
    patch = [{"op": "replace", "path": "/spec/egress/2/toPorts/0/ports/0/port", "value": "8084"}]
    _kubectl(labdir, "-n", "mtls-inject", "patch", "cnp", "mtls-injection-policy", "--type", "json", "-p", json.dumps(patch))
    _becomes(lambda a: a.startswith("exit"), "CNP changed to another port")  # 8083 redirected no more
    _kubectl(labdir, "apply", "-f", cilium_manifests)
    _becomes(ok, "CNP changed back")

    # The Envoy config: its cluster sent to the impostor's frontend (Envoy refuses its certificate),
    # deleted.
    patch = [{"op": "replace", "path": "/spec/resources/1/load_assignment/endpoints/0/lb_endpoints/0/endpoint/address/socket_address/port_value",
              "value": 8443}]
    _kubectl(labdir, "patch", "ccec", "mtls-injection-envoy", "--type", "json", "-p", json.dumps(patch))
    _becomes(lambda a: a.startswith("exit"), "CCEC changed")  # its TCP proxy closes what it cannot carry
    _kubectl(labdir, "delete", "ccec", "mtls-injection-envoy")
    _becomes(lambda a: a.startswith("exit"), "CCEC deleted")  # redirected to a listener no Envoy holds
    _check_fails(labdir, "plain-http-injected")
    _kubectl(labdir, "apply", "-f", cilium_manifests)
    _becomes(ok, "CCEC created")

    # The Secret the CCEC names (as Cilium's SDS serves it): replaced by one from a foreign CA, deleted, restored.
    _kubectl(labdir, "replace", "-f", "-", stdin=_foreign_client_secret())
    _becomes(lambda a: a != "200", "client Secret replaced")
    _check_fails(labdir, "plain-http-injected")
    _kubectl(labdir, "-n", "cilium-secrets", "delete", "secret", "tls-client-cert")
    _becomes(lambda a: a != "200", "client Secret deleted")
    _kubectl(labdir, "apply", "-f", cilium_manifests)
    _becomes(ok, "client Secret restored")

    verify = lab(labdir, "verify", "inject-mtls")
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]

    # Broken from outside again (a foreign Secret, the policy deleted): `up` converges from what it finds.
    _kubectl(labdir, "replace", "-f", "-", stdin=_foreign_client_secret())
    _kubectl(labdir, "-n", "mtls-inject", "delete", "cnp", "mtls-injection-policy")
    healed = lab(labdir, *up_args())
    assert healed.returncode == 0 and "6 passed, 0 failed" in healed.stdout, healed.stdout[-3000:] + healed.stderr[-2000:]
    assert _answer() == "200"
    down = lab(labdir, "down", "inject-mtls")
    assert down.returncode == 0, down.stderr
    assert labelled(docker_engine) == {"containers": [], "networks": [], "volumes": []}
