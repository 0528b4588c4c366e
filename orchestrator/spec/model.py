"""The resolved lab: every default applied, every override merged, every templated string rendered."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_ALGORITHM = "ecdsa-p256"
DEFAULT_CHECK_TIMEOUT = 30.0
DEFAULT_CHECK_INTERVAL = 1.0
REFUSAL_CHECK_TIMEOUT = 10.0
OWNER_LABEL = "app.kubernetes.io/managed-by"
LAB_LABEL = "lab.dev/lab"
INSTANCE_LABEL = "lab.dev/instance"


@dataclass(frozen=True)
class CertSpec:
    name: str
    usage: str  # server | client
    cn: str
    dns: tuple[str, ...] = ()
    ip: tuple[str, ...] = ()
    days: int = 365
    algorithm: str = DEFAULT_ALGORITHM
    subject: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CASpec:
    cn: str
    days: int
    algorithm: str
    subject: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PkiSpec:
    root: CASpec
    intermediate: CASpec
    certificates: dict[str, CertSpec]


@dataclass(frozen=True)
class Check:
    type: str
    params: dict[str, Any]
    expect: dict[str, Any]
    timeout: float = DEFAULT_CHECK_TIMEOUT
    interval: float = DEFAULT_CHECK_INTERVAL
    runtimes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    name: str
    kind: str  # apply | wait | check
    description: str = ""
    apply: str | None = None
    wait: dict[str, Any] | None = None
    check: Check | None = None


@dataclass
class Lab:
    name: str
    title: str
    description: str
    source: dict[str, str]
    runtimes: tuple[str, ...]
    directory: Path
    spec_file: Path
    instance: str
    values: dict[str, Any]
    images: dict[str, str]
    versions: dict[str, str]
    pki: PkiSpec | None
    cluster: dict[str, Any]
    stack: dict[str, Any]
    manifests: dict[str, list[str]]
    steps: list[Step] = field(default_factory=list)

    @property
    def templates_dir(self) -> Path:
        return self.directory / "templates"

    def context(self) -> dict[str, Any]:
        """What templates see: values at the top level, plus lab, images, versions, pki."""
        ctx = dict(self.values)
        ctx.update(
            lab={"name": self.name, "title": self.title, "instance": self.instance},
            images=self.images,
            versions=self.versions,
            pki=pki_context(self.pki),
            cluster=self.cluster,
            owner_labels=self.owner_labels(),
        )
        return ctx

    def owner_labels(self) -> dict[str, str]:
        """Carried by every Docker and Kubernetes object the lab creates, so `down` finds exactly those."""
        return {OWNER_LABEL: "lab", LAB_LABEL: self.name, INSTANCE_LABEL: self.instance}


def pki_context(pki: PkiSpec | None) -> dict[str, Any]:
    if pki is None:
        return {}
    return {
        "root": {"cn": pki.root.cn},
        "intermediate": {"cn": pki.intermediate.cn},
        "certificates": {
            name: {"cn": c.cn, "usage": c.usage, "dns": list(c.dns), "ip": list(c.ip)} for name, c in pki.certificates.items()
        },
    }
