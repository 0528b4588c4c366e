import os

import pytest

from tests.helpers import FIXTURE_LABS, REPO, copy_lab

# The project's shared upstream files, as a workshop's offline bundle: labs' pinned artifacts resolve from it.
if (REPO.parent / "shared" / "upstream" / "SHA256SUMS").is_file():
    os.environ.setdefault("LAB_BUNDLE", str(REPO.parent / "shared" / "upstream"))


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
