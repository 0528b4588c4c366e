"""What the emulated Cilium made for the API objects it follows, kept in the instance's folder (`cilium.json`).

Two processes act on it: the lab's commands (after an apply, before an exec or a flow query, at reset) and the
node agent's Cilium loop, which follows the API server while nobody runs a command. Each reads and writes the
record holding the lock beside it, so while one rebuilds Envoy the other waits, then finds the rebuild done.

The record is input like any other: read bounded, validated against its schema, and it may name no container
but the instance's own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Iterator

from orchestrator.errors import BadInput
from orchestrator.files import MAX_RECORD_BYTES, read_bounded, schema_problem, write_atomic

RECORD_FILE = "cilium.json"
LOCK_FILE = ".cilium.lock"

_CONTAINER = {"type": "string", "pattern": "^lab-[a-z0-9][a-z0-9.-]{0,200}$"}
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "redirected_pod": _CONTAINER,
        "redirected_container_id": {"type": "string", "pattern": "^[0-9a-f]{12,64}$"},
        # a digest of the API objects last followed
        "cilium_seen": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "proxy_routes": {"type": "array", "maxItems": 1000, "items": {"type": "object"}},
        "policy_pods": {
            "type": "array", "maxItems": 1000,
            "items": {"type": "object", "required": ["container", "namespace", "pod", "labels"],
                      "properties": {"container": _CONTAINER, "namespace": {"type": "string", "maxLength": 253},
                                     "pod": {"type": "string", "maxLength": 253}, "labels": {"type": "object"}}},
        },
    },
}


class CiliumRecord:
    """`with record.held() as data:` the record, locked against the other process for the block; nested holds in
    one process share the lock and the data (a follow inside an exec), and the data is written back when the
    outermost hold ends, also when the block failed half-way (what it made is recorded, so reset finds it)."""

    def __init__(self, state_dir: Path, instance: str):
        self.file = state_dir / RECORD_FILE
        self.lock_file = state_dir / LOCK_FILE
        self.prefix = f"lab-{instance}-"
        self._guard = threading.RLock()
        self._depth = 0
        self._data: dict = {}
        self._read_as = ""

    @contextlib.contextmanager
    def held(self) -> Iterator[dict]:
        with self._guard:
            fd = self._acquire() if self._depth == 0 else None
            self._depth += 1
            try:
                yield self._data
            finally:
                self._depth -= 1
                if fd is not None:
                    try:
                        if json.dumps(self._data, sort_keys=True) != self._read_as:
                            write_atomic(self.file, json.dumps(self._data, indent=2, sort_keys=True).encode(), 0o600)
                    finally:
                        self._data, self._read_as = {}, ""
                        os.close(fd)  # closing releases the lock

    @property
    def current(self) -> dict:
        """The data of the hold this thread is in (the plugin's inner steps read and write it)."""
        if self._depth == 0:
            raise RuntimeError("the emulated Cilium's record is read outside a hold")
        return self._data

    def _acquire(self) -> int:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._data = self._read()
        except BaseException:
            os.close(fd)
            raise
        self._read_as = json.dumps(self._data, sort_keys=True)
        return fd

    def _read(self) -> dict:
        if not (self.file.exists() or self.file.is_symlink()):
            return {}
        raw = read_bounded(self.file, "emulated Cilium's record", MAX_RECORD_BYTES)
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadInput(f"{self.file}: not a record lab wrote ({str(exc)[:120]}); `lab down` and up again") from None
        problem = self._problem(data)
        if problem:
            raise BadInput(f"{self.file}: {problem}; nothing of this record is trusted. `lab down` and up again")
        return data

    def _problem(self, data) -> str | None:
        problem = schema_problem(data, SCHEMA)
        if problem:
            return problem
        containers = [data.get("redirected_pod")] + [p["container"] for p in data.get("policy_pods", [])]
        if any(c is not None and not c.startswith(self.prefix) for c in containers):
            return "names a container that is not this instance's"
        return None

    def remove(self) -> None:
        with self._guard:
            self.file.unlink(missing_ok=True)
