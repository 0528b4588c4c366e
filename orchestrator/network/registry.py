"""Network plugins by name: a runtime's entry names the one it uses (real Cilium on kind, its emulation in the
docker runtime). Explicit, built by `default_networks()`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from orchestrator.network.base import NetworkPlugin
from orchestrator.registry import Registry


@dataclass(frozen=True)
class NetworkEntry:
    name: str
    summary: str
    factory: Callable[[object], NetworkPlugin]  # the plugin, handed its host (the runtime)
    describe: Callable[[object, str], list[str]] = lambda lab, runtime: []  # what it does for a lab, in words (`lab show`)


class NetworkRegistry(Registry[NetworkEntry]):
    what = "network plugin"

    def make(self, name: str, host) -> NetworkPlugin:
        return self.get(name).factory(host)


def _cilium(host) -> NetworkPlugin:
    from orchestrator.network.cilium import CiliumNetwork

    return CiliumNetwork(host)


def _emulated(host) -> NetworkPlugin:
    from orchestrator.network.emulated.cilium import EmulatedCilium

    return EmulatedCilium(host)


def _describe_emulation(lab, runtime: str) -> list[str]:
    from orchestrator.network.emulated.cilium import describe

    return describe(lab, runtime)


def default_networks() -> NetworkRegistry:
    return NetworkRegistry([
        NetworkEntry("cilium", "Cilium installed by its chart; flows from Hubble in its agents", _cilium),
        NetworkEntry("emulated-cilium", "Cilium's policies and Envoy configs emulated from the API with Envoy and iptables", _emulated,
                     _describe_emulation),
    ])
