"""`.lab/<instance>/state.json`: what exists, so reruns converge and `down` works even after a crash, and
even after the lab's folder was edited or deleted: it records the instance, its labels, its network and
what the runtime created.

A record is input like any other (hand-edited, truncated, copied from elsewhere): it is read bounded and
validated against its schema before anything in it is trusted. Its ownership labels must be exactly the
instance's own (managed-by=lab, the lab, the instance named by its folder), or `down` would list and remove
objects by a filter that matches what is not ours.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from orchestrator.errors import BadInput
from orchestrator.files import MAX_RECORD_BYTES, child, read_bounded, remove_tree, schema_problem, write_atomic
from orchestrator.runtimes.base import Instance
from orchestrator.spec.model import INSTANCE_LABEL, LAB_LABEL, OWNER_LABEL, Network
from orchestrator.spec.names import INSTANCE_NAME, RESERVED_INSTANCES, instance_name

_NAME = {"type": "string", "pattern": f"^{INSTANCE_NAME.pattern}$"}
_TEXT = {"type": "string", "maxLength": 4096}
STATE_SCHEMA = {
    "type": "object",
    "required": ["lab", "instance", "runtime", "phase", "instance_record"],
    "properties": {
        "lab": _NAME,
        "instance": _NAME,
        "runtime": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,30}$"},
        "phase": {"enum": ["starting", "up", "failed", "interrupted"]},
        "updated": _TEXT,
        "stages": {
            "type": "object", "maxProperties": 1000,
            "propertyNames": {"pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
            "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["status"],
                "properties": {"status": {"enum": ["done", "failed", "skipped", "unchecked"]},
                               "started": {"type": "number", "minimum": 0}, "ended": {"type": "number", "minimum": 0}},
            },
        },
        "sets": {"type": "array", "maxItems": 1000, "items": _TEXT},
        "values_files": {"type": "array", "maxItems": 1000, "items": _TEXT},
        "images_files": {"type": "array", "maxItems": 1000, "items": _TEXT},
        "instance_record": {
            "type": "object",
            "additionalProperties": False,
            "required": ["lab", "instance", "labels", "network"],
            "properties": {
                "lab": _NAME,
                "instance": _NAME,
                "labels": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [OWNER_LABEL, LAB_LABEL, INSTANCE_LABEL],
                    "properties": {OWNER_LABEL: {"const": "lab"}, LAB_LABEL: _NAME, INSTANCE_LABEL: _NAME},
                },
                "network": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "subnet"],
                    "properties": {"name": {"type": "string", "pattern": "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$"},
                                   "subnet": {"type": "string", "maxLength": 64}},
                },
            },
        },
        # What the runtime created: each field typed, nothing else accepted.
        "runtime_state": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "control_plane": {"type": "boolean"},
                "stack_up": {"type": "boolean"},
                "node_pid": {"type": "integer", "minimum": 1},
                "api_port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "created_cluster": _NAME,
                "created_network": {"type": "string", "pattern": "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$"},
            },
        },
    },
}


def _problem(data, directory: Path) -> str | None:
    """What is wrong with a record (field and why), or None: the schema, then that it is this folder's instance."""
    problem = schema_problem(data, STATE_SCHEMA)
    if problem:
        return problem
    record = data["instance_record"]
    name = directory.name
    if data["instance"] != name or record["instance"] != name:
        return f"instance: the record is of instance {record['instance']}, but lies in the folder of {name}"
    if record["labels"][INSTANCE_LABEL] != name or record["labels"][LAB_LABEL] != record["lab"] or record["lab"] != data["lab"]:
        return "instance_record.labels: not this instance's own ownership labels"
    if data.get("runtime_state", {}).get("created_cluster") not in (None, name):
        return "runtime_state.created_cluster: not this instance's cluster"
    return None


class InstanceState:
    def __init__(self, directory: Path):
        self.directory = directory
        self.file = directory / "state.json"
        self.data: dict = {}
        if self.file.exists() or self.file.is_symlink():
            raw = read_bounded(self.file, "instance record", MAX_RECORD_BYTES)
            try:
                data = json.loads(raw)
            except (UnicodeDecodeError, ValueError) as exc:
                raise BadInput(f"{self.file}: not a record lab wrote ({str(exc)[:120]}); nothing of it is trusted. "
                               "Remove the folder after checking nothing of it runs") from None
            problem = _problem(data, directory)
            if problem:
                raise BadInput(f"{self.file}: {problem}; nothing of this record is trusted (`lab` acts only on records "
                               "it wrote). Remove the folder after checking nothing of it runs")
            self.data = data

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
        from orchestrator.spec.values import Overrides

        return Overrides(tuple(Path(p) for p in self.data.get("values_files", [])), tuple(self.data.get("sets", [])), self.name,
                         tuple(Path(p) for p in self.data.get("images_files", [])))

    def instance(self) -> Instance:
        """The instance as `up` recorded it: enough to tear it down with no spec at hand."""
        record = self.data["instance_record"]
        network = record["network"]
        return Instance(record["lab"], record["instance"], dict(record["labels"]), Network(network["name"], network["subnet"]),
                        self.directory, self.runtime_data)

    def save(self, **changes) -> None:
        self.data.update(changes, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self.file, json.dumps(self.data, indent=2, sort_keys=True).encode(), 0o600)

    def tear_down(self, runtime) -> list[str]:
        """Everything the instance created (by its runtime, from this record), then the record itself."""
        removed = runtime.teardown()
        self.remove()
        return removed

    def remove(self) -> None:
        """Everything of the instance: state, rendered files (they hold keys), its kubeconfig."""
        remove_tree(self.directory)


def state_dir(state_root: Path, name: str, origin: str = "--instance") -> Path:
    """The folder of an instance's record: its name validated whole, the path proven inside the state root."""
    return child(state_root, instance_name(name, origin), "instance folder")


def recorded_instances(state_root: Path) -> list[str]:
    """Instances with a record (folders named as instances are; anything else in .lab/ is not one)."""
    if not state_root.is_dir():
        return []
    return sorted(p.name for p in state_root.iterdir()
                  if INSTANCE_NAME.fullmatch(p.name) and p.name not in RESERVED_INSTANCES and (p / "state.json").exists())


def recorded(state_root: Path, name: str) -> InstanceState:
    """The record of an instance that must exist (verify, kubeconfig): exit 2 naming the recorded ones when not."""
    state = InstanceState(state_dir(state_root, name))
    if not state.exists:
        known = ", ".join(recorded_instances(state_root)) or "none"
        raise BadInput(f"no instance {name} is recorded in {state_root} (recorded: {known}); `lab up` it first")
    return state
