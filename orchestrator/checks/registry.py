"""Check kinds by name: explicit, built by `default_checks()`, never an import-time global."""

from __future__ import annotations

from orchestrator.checks.base import CheckKind


class CheckRegistry:
    def __init__(self, kinds: list[CheckKind] | tuple = ()):
        self._kinds: dict[str, CheckKind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: CheckKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"check kind {kind.name} registered twice")
        self._kinds[kind.name] = kind

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def get(self, name: str) -> CheckKind:
        if name not in self._kinds:
            raise KeyError(f"unknown check kind {name} (known: {', '.join(self.names())})")
        return self._kinds[name]

    def __iter__(self):
        return iter(self._kinds[name] for name in self.names())


def default_checks() -> CheckRegistry:
    from orchestrator.checks.http import HttpCheck
    from orchestrator.checks.hubble import HubbleCheck
    from orchestrator.checks.tls import TlsCheck

    return CheckRegistry([HttpCheck(), TlsCheck(), HubbleCheck()])
