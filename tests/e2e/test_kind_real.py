"""The real kind runtime end to end. Opt-in: LAB_E2E_KIND=1 on a machine with Docker, kind and helm
(the GitHub Actions workflow .github/workflows/e2e-kind.yml runs it)."""

import os
import shutil

import pytest

from tests.e2e.conftest import lab

pytestmark = pytest.mark.kind

if os.environ.get("LAB_E2E_KIND") != "1":
    pytest.skip("real kind end-to-end is opt-in: set LAB_E2E_KIND=1 on a machine with Docker, kind and helm",
                allow_module_level=True)
missing = [tool for tool in ("kind", "helm", "docker") if shutil.which(tool) is None]
if missing:
    pytest.skip(f"LAB_E2E_KIND=1 but {', '.join(missing)} not installed", allow_module_level=True)


def test_inject_mtls_on_kind(tmp_path):
    up = lab(tmp_path, "up", "inject-mtls", "--runtime", "kind", "--junit", "up.xml", timeout=1800)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "6 passed, 0 failed" in up.stdout
        verify = lab(tmp_path, "verify", "inject-mtls", "--junit", "verify.xml", timeout=600)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        down = lab(tmp_path, "down", "inject-mtls", timeout=600)
    assert down.returncode == 0, down.stderr
    assert "inject-mtls" not in lab(tmp_path, "status").stdout.replace("not up", "")


# The labs beside inject-mtls, each with the number of checks it passes on kind (as in the docker runtime):
# users and RBAC; MetalLB's own images with its speaker; Cilium's own policy enforcement and Hubble; Hubble's TLS from
# cert-manager's official controller image, checked at the agent's port.
LABS = [("k8s-user-certs", 8), ("webhook-ca-repair", 12), ("starwars-policy", 10), ("hubble-tls", 10)]


@pytest.mark.parametrize("name, checks", LABS, ids=[name for name, _ in LABS])
def test_lab_on_kind(tmp_path, name, checks):
    up = lab(tmp_path, "up", name, "--runtime", "kind", "--junit", "up.xml", timeout=1800)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"{checks} passed, 0 failed" in up.stdout
        verify = lab(tmp_path, "verify", name, timeout=600)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        down = lab(tmp_path, "down", name, timeout=600)
    assert down.returncode == 0, down.stderr
