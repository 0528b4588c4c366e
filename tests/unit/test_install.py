"""Fixes are phrased for how `lab` was installed: make targets in the project's checkout, general ones elsewhere."""

import os
import shutil
import subprocess
import sys

from orchestrator import install
from tests.helpers import REPO


def test_in_the_checkout_the_fix_is_a_make_target():
    assert install.in_checkout()
    assert install.fix("`make engine`", "start Docker") == f"`make engine` (in {REPO})"


def test_installed_as_a_package_the_fix_is_one_a_pip_user_can_type(tmp_path):
    """The package alone (as pip puts it in site-packages, no Makefile beside it): doctor's fix never says make."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "orchestrator", site / "orchestrator", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(site), "DOCKER_HOST": f"unix://{tmp_path}/none.sock", "PYTHONSAFEPATH": "1"}
    result = subprocess.run([sys.executable, "-m", "orchestrator", "doctor", "inject-mtls", "--runtime", "docker"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 3, result.stderr
    out = result.stdout + result.stderr
    assert "sudo systemctl start docker" in out and "make " not in out and str(REPO) not in out
