"""The lab.local images `make images` builds, each doing its job in a container (testcontainers)."""

from __future__ import annotations

import json

import pytest
from testcontainers.core.container import DockerContainer

from tests.e2e.conftest import IMAGES
from tests.integration.conftest import render_loopback

INSTANCE_GROUP = "images"  # the tier's side-by-side groups: tests/e2e/conftest.py


def run_once(image: str, command: list[str], **kwargs) -> tuple[int, str]:
    with DockerContainer(image).with_command(["sleep", "30"]).with_kwargs(init=True, **kwargs) as container:
        result = container.exec(command)
        return result.exit_code, result.output.decode(errors="replace")


def test_client_image_has_curl_openssl_and_iptables(docker_engine):
    code, out = run_once(IMAGES["client"], ["sh", "-c", "curl --version && openssl version && iptables -t nat -L OUTPUT -n"],
                         cap_add=["NET_ADMIN"])
    assert code == 0, out
    assert "curl" in out and "OpenSSL" in out and "Chain OUTPUT" in out


def test_echo_image_serves_the_lab_echo(docker_engine, tmp_path):
    lab = render_loopback(tmp_path)
    probe = ("import json, urllib.request; r = urllib.request.Request('http://127.0.0.1:8081/p?q=1', headers={'X-Probe': '1'}); "
             "print(urllib.request.urlopen(r, timeout=2).read().decode())")
    with DockerContainer(IMAGES["echo"]).with_command(["sleep", "30"]).with_kwargs(init=True) as container:
        wrapped = container.get_wrapped_container()
        wrapped.put_archive("/", _tar({"app/echo.py": (lab.out / "stack/echo.py").read_bytes()}))
        wrapped.exec_run(["python3", "/app/echo.py", "--port", "8081"], detach=True)
        result = _retry(lambda: container.exec(["python3", "-c", probe]))
    body = json.loads(result.output)
    assert body["path"] == "/p" and body["args"] == {"q": ["1"]} and body["headers"]["X-Probe"] == "1"


def test_envoy_image_validates_the_ccec_bootstrap_as_uid_101(docker_engine, tmp_path):
    lab = render_loopback(tmp_path)
    bootstrap = lab.write_envoy_bootstrap({name: 10000 + i for i, name in enumerate(lab.listeners())}, 9901)
    files = {"etc/envoy/envoy.yaml": bootstrap.read_bytes()}
    for path in (tmp_path / "envoy-secrets").rglob("*"):
        if path.is_file():
            files[str(path).lstrip("/")] = path.read_bytes()
    with DockerContainer(IMAGES["envoy"]).with_command(["sleep", "30"]).with_kwargs(user="101") as container:
        container.get_wrapped_container().put_archive("/", _tar(files, uid=101))
        result = container.exec(["envoy", "--mode", "validate", "-c", "/etc/envoy/envoy.yaml"])
        identity = container.exec(["id", "-u"]).output.decode().strip()
    assert result.exit_code == 0, result.output.decode()
    assert identity == "101"


def test_haproxy_image_checks_the_rendered_config(docker_engine, tmp_path):
    lab = render_loopback(tmp_path, ("haproxy.certDir=/usr/local/etc/haproxy/certs",))
    files = {"usr/local/etc/haproxy/haproxy.cfg": (lab.out / "stack/haproxy.cfg").read_bytes()}
    for name in ("server.pem", "impostor.pem", "ca.crt"):
        files[f"usr/local/etc/haproxy/certs/{name}"] = (lab.out / "stack/certs" / name).read_bytes()
    with DockerContainer(IMAGES["haproxy"]).with_command(["sleep", "30"]) as container:
        container.get_wrapped_container().put_archive("/", _tar(files))
        result = container.exec(["haproxy", "-c", "-f", "/usr/local/etc/haproxy/haproxy.cfg"])
    assert result.exit_code == 0, result.output.decode()
    assert b"Configuration file is valid" in result.output


def _tar(files: dict[str, bytes], uid: int = 0) -> bytes:
    from orchestrator.providers.docker import FileSpec, tar_archive

    return tar_archive({f"/{path}": FileSpec(content, 0o444, uid, uid) for path, content in files.items()})


def _retry(call, attempts: int = 50):
    import time

    for _ in range(attempts):
        result = call()
        if result.exit_code == 0:
            return result
        time.sleep(0.1)
    pytest.fail(f"never succeeded: {result.output.decode(errors='replace')}")
