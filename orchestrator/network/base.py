"""The network plugin seam: what a runtime's network (real Cilium, or its emulation) tells about traffic."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flows:
    count: int
    source: str
    verdicts: tuple[str, ...] = ()
    output: str = ""
