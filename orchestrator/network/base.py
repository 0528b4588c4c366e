"""The network plugin seam: what a runtime's network (real Cilium, or its emulation) does beside the cluster's
own API, and what it tells about traffic. A runtime makes its plugin and hands it itself as the host."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Protocol


@dataclass(frozen=True)
class FlowQuery:
    """What a network is asked for: the `hubble observe` argv (real Cilium runs it in its agent), the same filters
    as data (an emulation answers from what it observed), and the window's start (epoch seconds)."""

    argv: tuple[str, ...]
    filters: dict[str, Any]
    since: float


@dataclass(frozen=True)
class Flows:
    count: int
    source: str
    verdicts: tuple[str, ...] = ()
    output: str = ""


class NetworkPlugin(Protocol):
    name: str

    def validate(self, docs: list[dict]) -> list[str]:
        """What of the rendered manifests this network cannot do, before anything is created."""

    def reconcile(self, docs: list[dict]) -> None:
        """After the lab applied these objects: what the network's agent does with them."""

    def holding(self) -> ContextManager:
        """A block in which the network's own agent waits: the lab applies or deletes several objects, and its
        agent following each half-way state would only rebuild what the block's end changes again."""

    def before_exec(self, container: str) -> None:
        """A command is about to run in this pod's container."""

    def flows(self, query: FlowQuery) -> Flows: ...

    def explain(self, pod: Any, since: float) -> str:
        """Why traffic from this pod failed since `since`, as the network saw it (a proxy's TLS refusal), or ''."""

    def reset(self) -> list[str]:
        """What it made for the lab's objects, removed with them (a rerun replays every stage)."""

    def collect(self, save: Callable[[str, Callable[[], str]], Any]) -> None:
        """Its own logs and state, each saved under a file name."""

    def forget(self) -> None:
        """Its records in the instance, once the instance is torn down."""
