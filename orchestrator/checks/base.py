"""What a check kind is, and what a check run tells."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any



@dataclass
class Observation:
    """One attempt: what was seen, and the problems against the expectation (empty = passed)."""

    seen: dict[str, Any]
    problems: list[str]
    output: str = ""

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass
class CheckResult:
    name: str
    type: str
    description: str
    status: str  # passed | failed | skipped
    expected: dict[str, Any]
    seen: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    attempts: int = 0
    seconds: float = 0.0
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("name", "type", "description", "status", "expected", "seen", "message", "attempts", "seconds", "output")}
