"""Where this machine's instances live. An instance's record sits in its home's `.lab/` (the folder `lab up` ran
in, or LAB_HOME); every home `lab up` used is remembered in one small file, so `lab status`, `lab down --all`
and a `lab down NAME` run from anywhere find every instance. Instance names are the machine's, not a home's
(container, network and cluster names are global to the engine): one name is up in one home at a time.

The file is state, so untrusted: read bounded, each entry an absolute path to a home whose `.lab/` is a real
folder; anything else in it is dropped (named once), never followed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from orchestrator.errors import BadInput
from orchestrator.files import locked, read_bounded, write_atomic
from orchestrator.lifecycle.state import recorded_instances

STATE_FOLDER = ".lab"
MAX_HOMES = 256
MAX_REGISTRY_BYTES = 256 * 1024


def registry_file() -> Path:
    """LAB_REGISTRY, else $XDG_STATE_HOME/lab/homes.json (~/.local/state when unset)."""
    if os.environ.get("LAB_REGISTRY"):
        return Path(os.environ["LAB_REGISTRY"])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "lab" / "homes.json"


def _is_home(path: Path) -> bool:
    state = path / STATE_FOLDER
    return state.is_dir() and not state.is_symlink()


def _read(file: Path) -> tuple[list[Path], list[str]]:
    """The homes recorded in the file that are still homes, and what was dropped (a malformed file: all of it)."""
    if not file.exists() and not file.is_symlink():
        return [], []
    try:
        entries = json.loads(read_bounded(file, "registry of lab homes", MAX_REGISTRY_BYTES)).get("homes")
    except BadInput as exc:
        return [], [f"{exc.message}; it is rewritten by the next `lab up`"]
    except (ValueError, AttributeError):
        return [], [f"{file}: not a registry of lab homes; it is rewritten by the next `lab up`"]
    if not isinstance(entries, list):
        return [], [f"{file}: homes: must be a list; it is rewritten by the next `lab up`"]
    homes, dropped = [], []
    for entry in entries[:MAX_HOMES]:
        path = Path(entry) if isinstance(entry, str) and "\0" not in entry else None
        if path is None or not path.is_absolute() or ".." in path.parts:
            dropped.append(f"{file}: {str(entry)[:80]!r} is not an absolute path")
        elif _is_home(path) and path not in homes:
            homes.append(path)
    return homes, dropped


def remember(home: Path) -> None:
    """Add `home` to the registry (under its lock; homes that are gone are dropped as it is rewritten)."""
    file = registry_file()
    home = home.resolve()
    with locked(file, "registry of lab homes"):
        homes, _ = _read(file)
        kept = [h for h in homes if h != home][: MAX_HOMES - 1]
        write_atomic(file, json.dumps({"homes": [str(home), *map(str, kept)]}, indent=2).encode(), 0o600)


def known_homes(current: Path) -> tuple[list[Path], list[str]]:
    """The current home first, then every other remembered one still there; and the entries dropped."""
    current = current.resolve()
    homes, dropped = _read(registry_file())
    return [current, *(h for h in homes if h != current)], dropped


def instances_everywhere(current: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """(home, instance) for every recorded instance on this machine, the current home's first."""
    homes, dropped = known_homes(current)
    return [(home, name) for home in homes for name in recorded_instances(home / STATE_FOLDER)], dropped


def home_of(current: Path, instance: str) -> Path | None:
    """The home holding `instance`'s record: the current one when it is there, else the one other home that
    has it (None when none does)."""
    if instance in recorded_instances(current / STATE_FOLDER):
        return current
    found = [home for home, name in instances_everywhere(current)[0] if name == instance]
    return found[0] if found else None
