"""The kind CLI is found on PATH, else where `make images` built it: a cluster made with the built kind is
still listed and deleted from a shell without kind on PATH (`make up RUNTIME=kind`, then `lab down`)."""

from __future__ import annotations

import pytest

from orchestrator.errors import MissingPrerequisite
from orchestrator.providers.kind import KindCli


def _kind(folder, says: str) -> None:
    (folder / "kind").write_text(f"#!/bin/sh\necho {says} \"$@\"\n")
    (folder / "kind").chmod(0o755)


def test_the_built_kind_answers_when_none_is_on_path(machine):
    _, built = machine
    _kind(built, "built")
    assert KindCli().clusters() == ["built", "get", "clusters"]


def test_kind_on_path_comes_first(machine):
    path, built = machine
    _kind(built, "built")
    _kind(path, "installed")
    assert KindCli().clusters() == ["installed", "get", "clusters"]


def test_no_kind_anywhere_is_a_missing_prerequisite(machine):
    with pytest.raises(MissingPrerequisite, match="kind not found on PATH"):
        KindCli().clusters()
