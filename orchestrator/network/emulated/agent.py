"""Cilium's agent, emulated: the loop that follows the API server between the lab's commands, so a policy a
participant deletes with kubectl stops being enforced within a second or two, as with Cilium's agent, whether
or not a lab command looks. It runs in the node agent's process (Cilium's agent runs on each node), with a host
of the same shape as the runtime the lab's commands hand the plugin."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("lab.cilium-agent")

FOLLOW_INTERVAL = 1.0  # seconds between two reads of the objects Cilium acts on


@dataclass(frozen=True)
class AgentInstance:
    name: str
    state_dir: Path


class AgentHost:
    """What the emulated Cilium needs of its host, in the node agent: the engine and the API it already has, the
    instance's name and folder (the plugin's record lies there), its labels and the images the lab names for
    the proxy and the datapath roles."""

    def __init__(self, engine, kube, instance: AgentInstance, labels: dict[str, str], images: dict[str, str]):
        self.engine, self.kube, self.instance, self.labels, self.images = engine, kube, instance, labels, images

    def pod_container(self, name: str) -> str:
        return f"lab-{self.instance.name}-{name}"  # as the node names them

    def network_image(self, role: str) -> str | None:
        return self.images.get(role)


def follow_api(cilium, stop: list, interval: float = FOLLOW_INTERVAL) -> None:
    """Follow until stopped; a failure (the API server restarting, a pod's container vanishing mid-rebuild) is
    logged once as long as it repeats, and the next pass tries again."""
    last = ""
    while not stop:
        try:
            cilium.follow()
            last = ""
        except Exception as exc:  # the loop outlives any one failure; the lab's own commands report theirs
            message = (str(exc).splitlines() or [type(exc).__name__])[0][:400]
            if message != last:
                log.warning("cilium follow: %s", message)
            last = message
        until = time.monotonic() + interval
        while not stop and time.monotonic() < until:
            time.sleep(min(0.25, max(0.0, until - time.monotonic())))
