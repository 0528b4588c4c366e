"""Names that become paths and labels (instances): validated at every entry, whole (fullmatch), so a name
can never leave its folder (`../x`), carry a newline, or collide with the tool's own folders."""

from __future__ import annotations

import re

from orchestrator.errors import BadInput

INSTANCE_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?")
RESERVED_INSTANCES = ("logs", "engine", "results")  # folders of .lab/ that are not instances


def instance_name(name: str, origin: str = "--instance") -> str:
    """The name itself when it is a valid instance name; else exit 2 naming where it came from."""
    if not isinstance(name, str) or not INSTANCE_NAME.fullmatch(name):
        shown = (name[:60] if name.isprintable() and name.strip() == name else repr(name[:60])) if isinstance(name, str) else repr(name)[:60]
        raise BadInput(f"{origin} {shown}: use lowercase letters, digits and dashes (at most 40)")
    if name in RESERVED_INSTANCES:
        raise BadInput(f"{origin} {name}: reserved for .lab/{name}/; choose another name")
    return name


def instance_name_of(lab: str, instance: str | None) -> str:
    """The instance a command acts on: --instance when given, else the lab's name (a lab given as a path: its
    folder's name), validated whole either way."""
    if instance is not None:
        return instance_name(instance)
    return instance_name(lab.rstrip("/").rsplit("/", 1)[-1] if "/" in lab else lab, "LAB")
