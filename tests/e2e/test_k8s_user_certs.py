"""`lab up k8s-user-certs --runtime docker`: users from certificates on the real control plane, as the seed makes
them, used with the real kubectl; RBAC broken by hand makes the lab's checks fail; nothing left after `down`."""

from __future__ import annotations

import os
import stat
import subprocess

from tests.e2e.conftest import KUBECTL, REPO, labelled, lab

INSTANCE_GROUP = "k8s-user-certs"  # the tier's side-by-side groups: tests/e2e/conftest.py

NOTHING = {"containers": [], "networks": [], "volumes": []}
UP = ["up", "k8s-user-certs", "--runtime", "docker", "--images", "images.yaml"]


def as_user(labdir, user: str, *args: str) -> subprocess.CompletedProcess:
    config = labdir / f".lab/k8s-user-certs/users/{user}.kubeconfig"
    return subprocess.run([str(KUBECTL), "--kubeconfig", str(config), *args], capture_output=True, text=True, timeout=60)


def test_users_from_certificates_and_rbac(tmp_path, docker_engine):
    (tmp_path / "images.yaml").write_text((REPO / "images.local.yaml").read_text())
    try:
        result = lab(tmp_path, *UP)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "8 passed, 0 failed" in result.stdout

        users = tmp_path / ".lab/k8s-user-certs/users"
        for name in ("ringu", "john", "forged-ringu"):
            assert stat.S_IMODE(os.stat(users / f"{name}.kubeconfig").st_mode) == 0o600
            assert stat.S_IMODE(os.stat(users / f"{name}.key").st_mode) == 0o600
        # The seed's own session, with the real kubectl: the context, then what RBAC allows.
        assert as_user(tmp_path, "ringu", "config", "current-context").stdout.strip() == "ringu@k8s-user-certs"
        assert as_user(tmp_path, "ringu", "get", "pods").returncode == 0  # the context's namespace is office
        denied = as_user(tmp_path, "john", "get", "pods")
        assert denied.returncode != 0 and 'User "john" cannot list resource "pods" in API group "" in the namespace "office"' in denied.stderr
        forged = as_user(tmp_path, "forged-ringu", "get", "pods")
        assert forged.returncode != 0 and "Unauthorized" in forged.stderr
        csr = subprocess.run([str(KUBECTL), "--kubeconfig", str(tmp_path / ".lab/k8s-user-certs/kubeconfig"), "get", "csr", "ringu"],
                             capture_output=True, text=True, timeout=60)
        assert "Approved,Issued" in csr.stdout and "kubernetes.io/kube-apiserver-client" in csr.stdout

        # Break what the lab proves: without the RoleBinding, ringu may not list pods, and `verify` says so.
        admin = str(tmp_path / ".lab/k8s-user-certs/kubeconfig")
        subprocess.run([str(KUBECTL), "--kubeconfig", admin, "delete", "rolebinding", "-n", "office", "read-pods"], check=True,
                       capture_output=True, timeout=60)
        broken = lab(tmp_path, "verify", "k8s-user-certs", "--junit", "verify.xml")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert "ringu-lists-pods" in broken.stderr and "cannot list resource" in (tmp_path / "verify.xml").read_text()
        # More broken from outside (the CSR deleted, the Role edited to allow nothing): `up` converges from what it
        # finds, every stage replayed and checked.
        subprocess.run([str(KUBECTL), "--kubeconfig", admin, "delete", "csr", "ringu"], check=True, capture_output=True, timeout=60)
        subprocess.run([str(KUBECTL), "--kubeconfig", admin, "-n", "office", "patch", "role", "pod-reader", "--type", "json",
                        "-p", '[{"op": "replace", "path": "/rules", "value": []}]'], check=True, capture_output=True, timeout=60)
        healed = lab(tmp_path, *UP)
        assert healed.returncode == 0, healed.stdout[-3000:] + healed.stderr[-2000:]
        assert lab(tmp_path, "verify", "k8s-user-certs").returncode == 0

        # The walkthrough shows the seed's commands for each way of making a user.
        guide = lab(tmp_path, "guide", "k8s-user-certs", "--out", "guide", "--format", "md", "--runtime", "docker")
        assert guide.returncode == 0, guide.stderr
        md = (tmp_path / "guide/guide.md").read_text()
        assert "kubectl certificate approve ringu" in md and '-CAkey "$LAB_CLUSTER_PKI"/ca.key' in md  # the cluster CA, where this runtime keeps it
        assert ('kubectl --kubeconfig "$LAB_USERS"/ringu.kubeconfig config set-context ringu@kubernetes --cluster=kubernetes --user=ringu '
                "--namespace=office") in md
    finally:
        down = lab(tmp_path, "down", "k8s-user-certs")
    assert down.returncode == 0, down.stderr
    assert labelled(docker_engine, "k8s-user-certs") == NOTHING
    assert not (tmp_path / ".lab/k8s-user-certs").exists()
