"""`.lab/<instance>/state.json`: what exists, so reruns converge and `down` works even after a crash, and
even after the lab's folder was edited or deleted: it records the instance, its labels, its network and
what the runtime created."""

from __future__ import annotations

import json
import time
from pathlib import Path

from orchestrator.errors import BadInput
from orchestrator.files import remove_tree, write_atomic
from orchestrator.runtimes.base import Instance
from orchestrator.spec.model import Network


class InstanceState:
    def __init__(self, directory: Path):
        self.directory = directory
        self.file = directory / "state.json"
        self.data: dict = {}
        if self.file.is_file():
            try:
                self.data = json.loads(self.file.read_text())
            except (OSError, ValueError) as exc:
                raise BadInput(f"{self.file}: unreadable state ({exc}); remove the folder after checking nothing of it runs") from None

    @property
    def exists(self) -> bool:
        return self.file.is_file()

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def rendered(self) -> Path:
        return self.directory / "rendered"

    @property
    def runtime_data(self) -> dict:
        return self.data.setdefault("runtime_state", {})

    def recorded_overrides(self):
        """The --set / -f overrides `up` was given, so verify sees the same lab."""
        from orchestrator.context import Overrides

        return Overrides(tuple(Path(p) for p in self.data.get("values_files", [])), tuple(self.data.get("sets", [])), self.name,
                         tuple(Path(p) for p in self.data.get("images_files", [])))

    def instance(self) -> Instance:
        """The instance as `up` recorded it: enough to tear it down with no spec at hand."""
        record = self.data.get("instance_record")
        if not record:
            raise BadInput(f"{self.file}: no instance record (written by an older lab?); remove its containers by the label lab.dev/instance={self.name}")
        network = record.get("network") or {}
        return Instance(record["lab"], record["instance"], dict(record["labels"]), Network(network.get("name", "kind"), network.get("subnet", "")),
                        self.directory, self.runtime_data)

    def save(self, **changes) -> None:
        self.data.update(changes, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self.file, json.dumps(self.data, indent=2, sort_keys=True).encode(), 0o600)

    def remove(self) -> None:
        """Everything of the instance: state, rendered files (they hold keys), its kubeconfig."""
        remove_tree(self.directory)


def recorded_instances(state_root: Path) -> list[str]:
    return sorted(p.parent.name for p in state_root.glob("*/state.json"))
