"""What a check kind is, and what a check run tells.

A check kind owns everything about itself: the schema of its parameters and expectations (the spec
loader assembles the lab schema from the registry), its cross-field rules, whether an expectation is a
refusal (short default timeout), its one-line summary, and how it runs against a runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from orchestrator.spec.model import Check


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
    started: float = 0.0  # wall-clock time of the first attempt (epoch seconds)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("name", "type", "description", "status", "expected", "seen", "message", "attempts", "seconds", "output")}


class CheckKind(Protocol):
    name: ClassVar[str]
    params: ClassVar[dict[str, Any]]  # JSON Schema of each parameter, by name
    required: ClassVar[tuple[str, ...]]
    expect: ClassVar[dict[str, Any]]  # JSON Schema of each expectation, by name
    runs_in_pod: ClassVar[bool]  # takes `from:` (the pod it runs in)

    def problems(self, params: dict[str, Any], expect: dict[str, Any]) -> list[tuple[str, str]]:
        """Rules that tie fields together: (field, message) pairs."""

    def is_refusal(self, expect: dict[str, Any]) -> bool:
        """True when the expectation is that something is refused (it passes at once when things work)."""

    def summary(self, seen: dict[str, Any]) -> str:
        """One line of what a passing attempt saw, for the results table."""

    def commands(self, check: Check) -> list[list[str] | str]:
        """The command lines this check runs, as a participant would type them: an argv, or a line written for
        the shell (a pipeline; in a pod it runs under `sh -c`)."""

    def expectations(self, expect: dict[str, Any]) -> list[str]:
        """What must be seen, in words (the walkthrough's "expected")."""

    def attempt(self, check: Check, runtime, timeout: float, since: float) -> Observation:
        """One attempt against the runtime; `since` is when the check began (epoch seconds)."""

    def side_by_side(self, check: Check) -> bool:
        """True when the check only looks (it changes nothing another check could see) and needs nothing the
        checks before it in its stage do: a run of such checks goes at once, each reported in its place."""


def say(expect: dict[str, Any], phrases: dict[str, Any]) -> list[str]:
    """An expectation in words, key by key in the phrases' order: a format string for the value, or a function."""
    return [phrase(expect[key]) if callable(phrase) else phrase.format(expect[key]) for key, phrase in phrases.items() if key in expect]


def brief(seen: dict[str, Any], keys: tuple[str, ...]) -> str:
    return ", ".join(f"{key}={seen[key]}" for key in keys if key in seen)
