"""`.lab/<instance>/state.json`: what exists, so reruns converge and `down` works even after a crash."""

from __future__ import annotations

import json
import time
from pathlib import Path

from orchestrator.pki.store import write_atomic


class InstanceState:
    def __init__(self, directory: Path):
        self.directory = directory
        self.file = directory / "state.json"
        self.data: dict = json.loads(self.file.read_text()) if self.file.is_file() else {}

    @property
    def exists(self) -> bool:
        return self.file.is_file()

    @property
    def rendered(self) -> Path:
        return self.directory / "rendered"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    def recorded_overrides(self, instance: str):
        """The --set / -f overrides `up` was given, so verify, down and status see the same lab."""
        from orchestrator.context import Overrides

        return Overrides(tuple(Path(p) for p in self.data.get("values_files", [])), tuple(self.data.get("sets", [])), instance)

    def save(self, **changes) -> None:
        self.data.update(changes, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self.file, json.dumps(self.data, indent=2, sort_keys=True).encode(), 0o600)

    def remove(self) -> None:
        self.file.unlink(missing_ok=True)
