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
class RuntimeEntry:
    name: str
    summary: str
    # Why this runtime cannot be the default on this machine (None: it can), without side effects.
    unavailable: Callable[[], str | None]
    factory: Callable[[Instance], Runtime]
    prerequisites: tuple[str, ...] = ()  # what a participant installs, in words (`lab guide`; `lab doctor` checks them)


class RuntimeRegistry(Registry[RuntimeEntry]):
    what = "runtime"

    def __init__(self, entries: list[RuntimeEntry]):
        super().__init__(entries, ordered=True)  # in order of preference

    def unknown(self, name: str) -> Exception:
        return BadInput(f"unknown runtime '{name}' (runtimes: {', '.join(self.names())})")

    def make(self, name: str, instance: Instance) -> Runtime:
        return self.get(name).factory(instance)

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


def default_runtimes() -> RuntimeRegistry:
    return RuntimeRegistry([
        RuntimeEntry("kind", "kind cluster with Cilium (kind and helm found)", _kind_unavailable, _make_kind,
                     ("Docker with compose v2", "kind v0.31", "helm 3", "kubectl", "enough inotify watches for the kind nodes (Linux)")),
        RuntimeEntry("docker", "a real control plane and a node in Docker; Cilium emulated with Envoy and iptables", lambda: None, _make_docker,
                     ("Linux with Docker and compose v2", "the control plane images (registry.k8s.io, or `make images` builds them)")),
    ])
