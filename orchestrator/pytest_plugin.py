"""pytest plugin: the `lab_instance` fixture brings a lab up for a test and tears it down afterwards.

    def test_mtls(lab_instance):
        lab = lab_instance("inject-mtls", runtime="docker", sets=["images.haproxy=..."])
        assert all(r.passed for r in lab.results)
        lab.verify()

A failed check raises `ChecksFailed`, whose message names the checks and the collected logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class LabSession:
    name: str
    workdir: Path
    overrides: object
    runtime: str | None
    results: list = field(default_factory=list)

    def _ctx(self):
        from orchestrator.context import LabContext
        from orchestrator.ui import Ui

        return LabContext(workdir=self.workdir, ui=Ui(force_plain=True))

    def up(self, **options) -> list:
        from orchestrator.commands.up import up
        from orchestrator.lifecycle.run import RunOptions

        # A test's failure tears its lab down: nobody is there to look at it (the logs are collected first).
        self.results = up(self._ctx(), self.name, self.overrides, RunOptions(runtime=self.runtime, **{"down_on_failure": True, **options}))
        return self.results

    def verify(self) -> list:
        from orchestrator.commands.stages import verify
        from orchestrator.lifecycle.run import RunOptions

        return verify(self._ctx(), self.name, self.overrides, RunOptions())

    def down(self) -> None:
        from orchestrator.commands.down import down

        down(self._ctx(), self.name, self.overrides)


@pytest.fixture
def lab_instance(tmp_path_factory):
    """Factory: `lab_instance(name, runtime=None, sets=(), values_files=(), instance=None)` → an up LabSession."""
    from orchestrator.context import Overrides

    sessions: list[LabSession] = []

    def start(name: str, *, runtime: str | None = None, sets=(), values_files=(), instance: str | None = None, **options) -> LabSession:
        session = LabSession(name, tmp_path_factory.mktemp(f"lab-{instance or name}"),
                             Overrides(tuple(Path(p) for p in values_files), tuple(sets), instance), runtime)
        sessions.append(session)
        session.up(**options)
        return session

    yield start
    for session in reversed(sessions):
        session.down()
