"""What the lifecycle needs from a runtime, and what both runtimes share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

from orchestrator.spec import Lab


@dataclass(frozen=True)
class Flows:
    count: int
    source: str
    verdicts: tuple[str, ...] = ()
    output: str = ""


class Runtime(Protocol):
    name: str

    def preflight(self) -> None: ...
    def create_cluster(self) -> None: ...
    def stack_up(self) -> None: ...
    def reset_lab_objects(self) -> list[str]: ...
    def apply(self, group: str, files: list[Path]) -> None: ...
    def wait(self, spec: dict) -> None: ...
    def exec_client(self, argv: list[str]) -> tuple[int, str, str]: ...
    def flows(self, params: dict) -> Flows: ...
    def collect_logs(self, dest: Path) -> list[Path]: ...
    def down(self) -> list[str]: ...
    def status(self) -> list[dict]: ...
    def access_hint(self) -> str: ...


def load_docs(files: list[Path]) -> list[dict]:
    docs = []
    for path in files:
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def rendered_docs(rendered: Path) -> list[dict]:
    return load_docs(sorted((rendered / "manifests").rglob("*.yaml")))


def client_pod(lab: Lab, docs: list[dict]) -> dict:
    """Checks run from the lab's one Pod."""
    pods = [d for d in docs if d.get("kind") == "Pod"]
    if len(pods) != 1:
        from orchestrator.errors import BadInput

        raise BadInput(f"{lab.spec_file}: manifests: checks run from the lab's client pod; found {len(pods)} Pods")
    return pods[0]


def pinned_addresses(rendered: Path) -> dict[str, list[str]]:
    """IPv4 addresses the rendered compose stack pins, per network name."""
    from orchestrator.render.artifacts import COMPOSE_FILE

    path = rendered / COMPOSE_FILE
    return pinned_in(yaml.safe_load(path.read_text()) if path.is_file() else {})


def pinned_in(compose: dict) -> dict[str, list[str]]:
    """IPv4 addresses a compose document pins, per network name: they must lie inside the network's subnet."""
    pinned: dict[str, list[str]] = {}
    for service in (compose.get("services") or {}).values():
        networks = service.get("networks") or {}
        if isinstance(networks, dict):
            for key, config in networks.items():
                if isinstance(config, dict) and config.get("ipv4_address"):
                    real = ((compose.get("networks") or {}).get(key) or {}).get("name", key)
                    pinned.setdefault(real, []).append(config["ipv4_address"])
    return pinned


def outside_subnets(addresses: list[str], subnets: list[str]) -> list[str]:
    import ipaddress

    v4 = [ipaddress.ip_network(s) for s in subnets if ":" not in s]
    return [a for a in addresses if not any(ipaddress.ip_address(a) in n for n in v4)]
