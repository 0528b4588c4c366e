"""What the cross-field rules of a step kind may read of a lab spec, as written or as rendered: the loader makes
one and hands it to each kind (kinds live with the lifecycle; the loader is handed their registry)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class SpecView:
    """What a kind's rules may read of a lab spec as written (or as rendered)."""

    raw: dict
    manifests: dict
    releases: list[str]
    runtimes: list[str]
    cert_names: set[str] | None  # None: the PKI section is itself broken
    template_problem: Callable[[str], str | None]  # why a template name cannot be used, or None
    is_pki_file: Callable[[str], bool]
    checks: Any  # the check kind registry
    users: set[str] = field(default_factory=set)  # made by the steps so far: a check acts as a user made before it
