"""The runtimes by name, in order of preference: an explicit list built by `default_runtimes()`.

The CLI's choices, the default runtime and `lab doctor` all come from here. Each entry imports its module
only when a runtime is made, so `lab --help` never loads docker or kubernetes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from orchestrator.errors import BadInput, MissingPrerequisite
from orchestrator.registry import Registry
from orchestrator.runtimes.base import Instance, Runtime


@dataclass(frozen=True)
class ImageRole:
    """A part a lab's image plays for a runtime (`imageRoles` in lab.yaml): its name, whether it names one image."""

    name: str
    single: bool
    meaning: str


# Roles every runtime knows: the compose stack's images are never side-loaded into a cluster.
SHARED_ROLES = (ImageRole("stack", False, "images only the compose stack runs"),)


@dataclass(frozen=True)
class RuntimeEntry:
    name: str
    summary: str
    # Why this runtime cannot be the default on this machine (None: it can), without side effects.
    unavailable: Callable[[], str | None]
    factory: Callable[[Instance], Runtime]
    prerequisites: tuple[str, ...] = ()  # what a participant installs, in words (`lab guide`; `lab doctor` checks them)
    network: str = ""  # the network plugin it runs the lab's network with (network/registry.py)
    image_roles: tuple[ImageRole, ...] = ()  # the parts its own images play
    spec_rules: Callable[[dict], list[tuple[str, str]]] = lambda raw: []  # what a lab supporting it must say: (field, message)
    runs_charts: bool = False  # installs the lab's charts (their images are the lab's too), or emulates what they make


class RuntimeRegistry(Registry[RuntimeEntry]):
    what = "runtime"

    def __init__(self, entries: list[RuntimeEntry]):
        super().__init__(entries, ordered=True)  # in order of preference

    def unknown(self, name: str) -> Exception:
        return BadInput(f"unknown runtime '{name}' (runtimes: {', '.join(self.names())})")

    def make(self, name: str, instance: Instance) -> Runtime:
        return self.get(name).factory(instance)

    def roles(self) -> list[ImageRole]:
        """Every image role a lab may name: the shared ones, then each runtime's own."""
        return list(SHARED_ROLES) + [role for entry in self for role in entry.image_roles]

    def images_for(self, lab, name: str) -> list[tuple[str, str]]:
        """The lab's images a runtime runs: those in no role (its pods'), the shared roles', and its own roles'."""
        mine = {role.name for role in SHARED_ROLES + self.get(name).image_roles}
        others = {role.name for role in self.roles()} - mine
        skip = {key for role in others for key in lab.image_roles.get(role, ())} - {key for role in mine for key in lab.image_roles.get(role, ())}
        return [(key, image) for key, image in sorted(lab.images.items()) if key not in skip]

    def select(self, supported: tuple[str, ...], requested: str | None, lab_name: str) -> tuple[str, str]:
        """The runtime to use and why: the requested one if the lab supports it, else the first the lab
        supports that this machine can run, in order of preference."""
        if requested:
            self.get(requested)
            if requested not in supported:
                raise BadInput(f"lab {lab_name} supports runtimes {', '.join(supported)}, not {requested}")
            return requested, "requested"
        reasons = []
        for name in self.names():
            if name not in supported:
                continue
            why_not = self.get(name).unavailable()
            if why_not is None:
                others = [n for n in supported if n != name]
                return name, f"{self.get(name).summary}" + (f"; --runtime {others[0]} to choose another" if others else "")
            reasons.append(f"{name}: {why_not}")
        raise MissingPrerequisite(f"lab {lab_name} cannot run here: {'; '.join(reasons)}",
                                  hint="run `lab doctor " + lab_name + "` for what to install")


def _kind_unavailable() -> str | None:
    from orchestrator.providers.helm import find_helm
    from orchestrator.providers.process import which

    missing = [tool for tool, found in (("kind", which("kind")), ("helm", find_helm())) if found is None]
    return f"{' and '.join(missing)} not found" if missing else None


def _make_kind(instance: Instance) -> Runtime:
    from orchestrator.runtimes.kind import KindRuntime

    return KindRuntime(instance)


def _make_docker(instance: Instance) -> Runtime:
    from orchestrator.runtimes.docker.runtime import DockerRuntime

    return DockerRuntime(instance)


def _kind_rules(raw: dict) -> list[tuple[str, str]]:
    rules = []
    if "kindConfig" not in (raw.get("cluster") or {}):
        rules.append(("cluster.kindConfig", "required when the lab supports the kind runtime"))
    if not (raw.get("imageRoles") or {}).get("node"):
        rules.append(("imageRoles.node", "required when the lab supports the kind runtime: the image key of kind's nodes"))
    return rules


def default_runtimes() -> RuntimeRegistry:
    single = lambda name, meaning: ImageRole(name, True, meaning)  # noqa: E731
    return RuntimeRegistry([
        RuntimeEntry("kind", "kind cluster with Cilium (kind and helm found)", _kind_unavailable, _make_kind,
                     ("Docker with compose v2", "kind v0.31", "helm 3", "kubectl", "enough inotify watches for the kind nodes (Linux)"),
                     network="cilium", image_roles=(single("node", "kind's node image"),), spec_rules=_kind_rules, runs_charts=True),
        RuntimeEntry("docker", "a real control plane and a node in Docker; Cilium emulated with Envoy and iptables", lambda: None, _make_docker,
                     ("Linux with Docker and compose v2", "the control plane images (registry.k8s.io, or `make images` builds them)"),
                     network="emulated-cilium",
                     image_roles=(single("proxy", "the Envoy that runs CiliumEnvoyConfigs and a policy's HTTP rules"),
                                  single("datapath", "where Cilium's datapath rules run from (iptables, curl)"),
                                  single("etcd", "etcd"), single("apiserver", "kube-apiserver"),
                                  single("controllerManager", "kube-controller-manager"), single("scheduler", "kube-scheduler"))),
    ])
