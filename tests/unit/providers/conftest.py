"""A machine of two folders: PATH (holding only what a test puts there) and where `make images` installs the
tools it builds (process.COMPONENTS_BIN): the tools are found on PATH first, else there."""

from __future__ import annotations

import pytest


@pytest.fixture
def machine(tmp_path, monkeypatch):
    path, built = tmp_path / "path", tmp_path / "built"
    path.mkdir()
    built.mkdir()
    monkeypatch.setenv("PATH", str(path))
    monkeypatch.setattr("orchestrator.providers.process.COMPONENTS_BIN", built)
    return path, built
