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


def test_k8s_user_certs_on_kind(tmp_path):
    up = lab(tmp_path, "up", "k8s-user-certs", "--runtime", "kind", "--junit", "up.xml", timeout=1800)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "8 passed, 0 failed" in up.stdout
    finally:
        down = lab(tmp_path, "down", "k8s-user-certs", timeout=600)
    assert down.returncode == 0, down.stderr


def test_webhook_ca_repair_on_kind(tmp_path):
    """MetalLB's own images and its speaker on kind: the same twelve checks as in the docker runtime."""
    up = lab(tmp_path, "up", "webhook-ca-repair", "--runtime", "kind", "--junit", "up.xml", timeout=1800)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "12 passed, 0 failed" in up.stdout
        verify = lab(tmp_path, "verify", "webhook-ca-repair", timeout=600)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        down = lab(tmp_path, "down", "webhook-ca-repair", timeout=600)
    assert down.returncode == 0, down.stderr


def test_starwars_policy_on_kind(tmp_path):
    """Cilium's own policy enforcement and Hubble on kind: the same ten checks."""
    up = lab(tmp_path, "up", "starwars-policy", "--runtime", "kind", "--junit", "up.xml", timeout=1800)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "10 passed, 0 failed" in up.stdout
    finally:
        down = lab(tmp_path, "down", "starwars-policy", timeout=600)
    assert down.returncode == 0, down.stderr
