import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.helpers import FAKE_TOOL, FIXTURE_LABS, LABS, copy_lab

# The labs' pinned upstream files resolve as for any user: LAB_BUNDLE when set, else a bundle beside the
# project (this project's `../shared/upstream`), then the cache (scripts/check_artifacts.py said so first).

# The registry of homes (`lab status` from anywhere) is the user's: the suite keeps its own, one per test below
# and one for what runs outside a test (module fixtures), removed at exit.
_SUITE_REGISTRY = tempfile.mkdtemp(prefix="lab-test-registry-")
atexit.register(shutil.rmtree, _SUITE_REGISTRY, True)
os.environ["LAB_REGISTRY"] = str(Path(_SUITE_REGISTRY) / "homes.json")


@pytest.fixture(autouse=True)
def own_registry(tmp_path_factory, monkeypatch):
    """Each test its own registry of homes: a `down --all` in one never reaches another's instances."""
    path = tmp_path_factory.mktemp("registry") / "homes.json"
    monkeypatch.setenv("LAB_REGISTRY", str(path))
    return path


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A clean working directory (certs/ and .lab/ land here) with the fixture labs on LAB_PATH."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAB_PATH", str(FIXTURE_LABS))
    return tmp_path


@pytest.fixture
def lab_root(tmp_path, monkeypatch):
    """A writable lab root holding a copy of the `mini` lab, first on LAB_PATH."""
    root = tmp_path / "labs"
    root.mkdir()
    copy_lab("mini", root)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("LAB_PATH", str(root))
    return root


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A working directory, writable copies of inject-mtls and mini on LAB_PATH, docker, kind and helm as recording
    fakes, and the Docker SDK pointed at a socket that does not exist: any call to docker shows up (a record, or
    exit 3), so "nothing in Docker" is asserted, not assumed."""
    labs = tmp_path / "labs"
    labs.mkdir()
    copy_lab("inject-mtls", labs, LABS)
    copy_lab("mini", labs, FIXTURE_LABS)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("docker", "kind", "helm"):
        os.symlink(FAKE_TOOL, bin_dir / tool)
    fake = tmp_path / "fake"
    fake.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("LAB_PATH", str(labs))
    monkeypatch.setenv("LAB_FAKE_DIR", str(fake))
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    return labs, work, fake
