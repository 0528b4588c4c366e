"""The resolved lab: every default applied, every override merged, every templated string rendered."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import BadInput

DEFAULT_ALGORITHM = "ecdsa-p256"
PKI_SOURCE = "pki:"  # a stack file copied from the issued PKI instead of rendered
DEFAULT_CHECK_TIMEOUT = 30.0
DEFAULT_CHECK_INTERVAL = 1.0
REFUSAL_CHECK_TIMEOUT = 10.0
OWNER_LABEL = "app.kubernetes.io/managed-by"
LAB_LABEL = "lab.dev/lab"
INSTANCE_LABEL = "lab.dev/instance"
OWNERSHIP_LABELS = (OWNER_LABEL, LAB_LABEL, INSTANCE_LABEL)


def ownership(labels: dict[str, str]) -> dict[str, str]:
    """The full set of an instance's ownership labels, or an error: a filter missing one of them (an empty one
    matches every object on the engine) must never select what `lab` removes."""
    from orchestrator.errors import LabError

    missing = [k for k in OWNERSHIP_LABELS if not isinstance(labels.get(k), str) or not labels.get(k)]
    if missing or labels.get(OWNER_LABEL) != "lab":
        raise LabError(f"refused: a selection of objects without the ownership labels {', '.join(missing) or OWNER_LABEL + '=lab'} "
                       "would match objects `lab` did not make")
    return {k: labels[k] for k in OWNERSHIP_LABELS}


def owned(object_labels: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """Whether an object carries every one of the instance's ownership labels."""
    wanted = ownership(labels)
    return all((object_labels or {}).get(k) == v for k, v in wanted.items())


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
    self_signed: bool = False  # signed by its own key: an impostor the lab CA does not vouch for


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


DEFAULT_NETWORK = "kind"
DEFAULT_SUBNET = "172.18.0.0/16"  # what kind gives its network when the range is free
DEFAULT_WAIT_TIMEOUT = 180.0
DEFAULT_CHART_WAIT_TIMEOUT = 600.0


@dataclass(frozen=True)
class Network:
    """The docker network the lab lives on (kind's own, by default) and its IPv4 subnet."""

    name: str = DEFAULT_NETWORK
    subnet: str = DEFAULT_SUBNET


@dataclass(frozen=True)
class PodRef:
    """A pod of the lab, by name or by label selector (`from:` of a check)."""

    namespace: str | None = None
    name: str | None = None
    selector: str | None = None

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{where}{self.name}" if self.name else f"{where}pod with labels {self.selector}"


@dataclass(frozen=True)
class Wait:
    """Wait until an object reaches a state; `kind` names a wait kind of the registry."""

    kind: str
    params: dict[str, Any]
    timeout: float = DEFAULT_WAIT_TIMEOUT

    @classmethod
    def from_spec(cls, raw: dict, default_timeout: float) -> "Wait":
        """A wait as written in a spec: `for`, the kind's parameters, and `timeout`."""
        return cls(raw["for"], {k: v for k, v in raw.items() if k not in ("for", "timeout")}, float(raw.get("timeout", default_timeout)))


@dataclass(frozen=True)
class Chart:
    """A helm chart the cluster gets before the lab's steps, and what must be ready afterwards."""

    release: str
    chart: str
    version: str
    namespace: str
    values: str  # template of its values file
    repo: str | None = None
    waits: tuple[Wait, ...] = ()
    artifact: str | None = None  # the chart archive as a pinned artifact (offline); then repo is only provenance
    emulate: tuple[tuple[str, str], ...] = ()  # (apiVersion, kind) of the rendered chart a runtime without it applies


@dataclass(frozen=True)
class Artifact:
    """An upstream file named by URL and pinned by sha256."""

    name: str
    url: str
    sha256: str


@dataclass(frozen=True)
class Omission:
    """An object of an upstream manifest a runtime cannot run, left out there, and why (shown by `lab show`)."""

    kind: str
    name: str
    runtimes: tuple[str, ...]
    why: str

    @staticmethod
    def label(runtime: str) -> str:
        """The label the rendered object carries, so `kubectl apply -l '<label>!=true'` leaves it out by hand too."""
        return f"lab.dev/left-out-on-{runtime}"


@dataclass(frozen=True)
class UpstreamManifest:
    """A manifest group entry that is an upstream artifact applied as published (see schema.yaml)."""

    artifact: str
    images: dict[str, str] = field(default_factory=dict)  # the image the manifest names -> the lab's image key
    omit: tuple[Omission, ...] = ()

    def omitted(self, doc: dict, runtime: str) -> Omission | None:
        for omission in self.omit:
            if runtime in omission.runtimes and doc.get("kind") == omission.kind and (doc.get("metadata") or {}).get("name") == omission.name:
                return omission
        return None


@dataclass(frozen=True)
class Check:
    type: str
    params: dict[str, Any]
    expect: dict[str, Any]
    timeout: float = DEFAULT_CHECK_TIMEOUT
    interval: float = DEFAULT_CHECK_INTERVAL
    runtimes: tuple[str, ...] = ()
    source: PodRef | None = None  # `from:` — the pod it runs in; None: the lab's only pod


@dataclass(frozen=True)
class UserSpec:
    """A Kubernetes user made from a certificate (see schema.yaml `user`)."""

    name: str
    via: str  # csr | cluster-ca | untrusted-ca
    cn: str
    groups: tuple[str, ...] = ()
    expiration_seconds: int = 86400
    days: int = 365
    namespace: str | None = None
    timeout: float = 60.0


@dataclass(frozen=True)
class Step:
    """One of the lab's steps: its kind (a step kind of the registry) and the value that kind built from the spec
    (a group name, a Wait, a Check, a UserSpec, an edit)."""

    name: str
    kind: str
    description: str = ""
    params: Any = None
    runtimes: tuple[str, ...] = ()  # the step runs only on these runtimes (all when empty)
    files: dict[str, str] = field(default_factory=dict)  # what it needs rendered: path in the rendered folder -> template
    hint: str = ""  # the lab author's advice when it fails

    def runs_on(self, runtime: str) -> bool:
        return not self.runtimes or runtime in self.runtimes

    def acts_on(self, runtime: str) -> bool:
        """It runs there and does something: not a check of another runtime's only (which a run reports skipped)."""
        check = self.check
        return self.runs_on(runtime) and not (check is not None and check.runtimes and runtime not in check.runtimes)

    @property
    def check(self) -> Check | None:
        """The check, for a check step (checks are what a run reports, so the report and the guide ask for them)."""
        return self.params if isinstance(self.params, Check) else None


@dataclass(frozen=True)
class Stage:
    """What a participant does as one and then checks: its steps in order, the checks last, with the lab author's
    words for it (title, why, a sample of what to see)."""

    name: str
    steps: tuple[Step, ...]
    title: str = ""
    why: str = ""
    sample: str = ""

    @property
    def checks(self) -> list[Step]:
        return [s for s in self.steps if s.check is not None]


def derived_stages(steps: list[Step]) -> list[Stage]:
    """A lab's stages when it names none: a new one at each step that follows a check, named after that step."""
    stages: list[list[Step]] = []
    for index, step in enumerate(steps):
        if not stages or (step.check is None and steps[index - 1].check is not None):
            stages.append([])
        stages[-1].append(step)
    return [Stage(group[0].name, tuple(group)) for group in stages]


def named_stages(raw: list[dict], steps: list[Step]) -> list[Stage]:
    """The stages a lab names (the loader proved each `from` is a step, in order, the first at the first step)."""
    starts = [next(i for i, s in enumerate(steps) if s.name == entry["from"]) for entry in raw]
    return [Stage(entry["name"], tuple(steps[start:end]), entry.get("title", "").strip(), entry.get("why", "").strip(),
                  entry.get("sample", "").rstrip())
            for entry, start, end in zip(raw, starts, starts[1:] + [len(steps)])]


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
    manifests: dict[str, list["str | UpstreamManifest"]]  # group -> templates of the lab, or upstream manifests
    steps: list[Step] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    epilogue: dict = field(default_factory=dict)  # recap, tryThis [{title, why, commands}], cleanup: the guide's last words
    network: Network = field(default_factory=Network)
    image_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    charts: tuple[Chart, ...] = ()
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    emulated_crds: tuple[str, ...] = ()
    emulated_manifests: tuple[str, ...] = ()

    def omissions(self, runtime: str | None = None) -> list[tuple[str, Omission]]:
        """(group, omission) of every object an upstream manifest leaves out (on one runtime, or on any)."""
        return [(group, o) for group, entries in self.manifests.items() for e in entries if isinstance(e, UpstreamManifest)
                for o in e.omit if runtime is None or runtime in o.runtimes]

    def applied_docs(self, group: str, docs: list[dict], runtime: str) -> list[dict]:
        """The documents of a group a runtime applies: all but those an upstream manifest leaves out there."""
        entries = [e for e in self.manifests.get(group, []) if isinstance(e, UpstreamManifest)]
        return [d for d in docs if not any(e.omitted(d, runtime) for e in entries)]

    def stage(self, name: str, given_as: str = "STAGE") -> Stage:
        """A stage by name; exit 2 listing the lab's stages when there is none of that name."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise BadInput(f"{given_as} {name}: lab {self.name} has no such stage (stages: {', '.join(s.name for s in self.stages)})")

    def stages_before(self, name: str) -> list[Stage]:
        return self.stages[: self.stages.index(self.stage(name))]

    def chart(self, release: str) -> Chart:
        """The chart of a release (an upgrade step names one; the loader made sure it exists)."""
        return next(c for c in self.charts if c.release == release)

    def images_outside_roles(self) -> list[tuple[str, str]]:
        """The images of the lab's pods: those no role names (a node, the stack, a runtime's own parts)."""
        named = {key for keys in self.image_roles.values() for key in keys}
        return [(key, image) for key, image in sorted(self.images.items()) if key not in named]

    def images_in_role(self, role: str) -> dict[str, str]:
        """The lab's images that play a role (node, stack, proxy), by key."""
        return {key: self.images[key] for key in self.image_roles.get(role, ()) if key in self.images}

    def image_for(self, role: str) -> str | None:
        """The one image of a single-image role (the node image, the proxy image)."""
        found = list(self.images_in_role(role).values())
        return found[0] if found else None


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
