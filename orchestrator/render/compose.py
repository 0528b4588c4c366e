"""A lab's compose stack, as the tool writes it: every container, network and volume compose makes carries the
instance's ownership labels (added here, whatever the lab's template says, so `down` can prove what is ours),
and nothing in it reaches into the host (a lab folder is input: it may run containers, not own the machine)."""

from __future__ import annotations

import ipaddress
from pathlib import PurePosixPath
from typing import Any

# Settings that hand a container the host, refused in a lab's compose file.
HOST_SETTINGS = ("privileged", "cap_add", "devices", "device_cgroup_rules", "security_opt", "pid", "ipc", "uts", "userns_mode",
                 "cgroup_parent", "cgroup", "sysctls", "volumes_from", "runtime")
HOST_MODES = ("network_mode",)


def _labels(existing: Any, owner: dict[str, str]) -> dict[str, str]:
    if isinstance(existing, list):  # ["a=b", ...], compose's other form
        existing = dict(item.split("=", 1) if "=" in item else (item, "") for item in existing if isinstance(item, str))
    return {**(existing if isinstance(existing, dict) else {}), **owner}


def labelled(doc: dict, owner: dict[str, str]) -> dict:
    """The compose document with the owner's labels on every service, every network and volume it creates (not
    external ones: those are made by others), and on the default network when a service uses it."""
    services = doc.get("services") or {}
    for service in services.values():
        if isinstance(service, dict):
            service["labels"] = _labels(service.get("labels"), owner)
    networks = doc.setdefault("networks", {}) if isinstance(doc.get("networks", {}), dict) else {}
    uses_default = any(isinstance(s, dict) and not s.get("networks") and not s.get("network_mode") for s in services.values())
    if uses_default and "default" not in networks:
        networks["default"] = {}
    for section in ("networks", "volumes"):
        for name, spec in list((doc.get(section) or {}).items()):
            spec = spec if isinstance(spec, dict) else {}
            if not spec.get("external"):
                spec["labels"] = _labels(spec.get("labels"), owner)
            doc[section][name] = spec
    if not doc.get("networks"):
        doc.pop("networks", None)
    return doc


def _bind_source(volume: Any) -> str | None:
    """The host path a service's volume binds, or None for a named volume or tmpfs."""
    if isinstance(volume, str):
        source = volume.split(":", 1)[0] if ":" in volume else None
        return source if source and (source.startswith((".", "/", "~")) or "/" in source) else None
    if isinstance(volume, dict) and volume.get("type") == "bind":
        return str(volume.get("source", ""))
    return None


def host_problems(doc: dict, where: str) -> list[str]:
    """What in a rendered compose document reaches the host: host modes and privileges, and bind mounts from
    anywhere but the stack's own folder (its rendered files)."""
    problems = []
    for name, service in (doc.get("services") or {}).items():
        if not isinstance(service, dict):
            problems.append(f"{where}: services.{name}: must be a mapping")
            continue
        for key in HOST_SETTINGS:
            if key in service:
                problems.append(f"{where}: services.{name}.{key}: not accepted in a lab's stack (it hands the container the host)")
        for key in HOST_MODES:
            if key in service and str(service[key]).split(":")[0] != "service":
                problems.append(f"{where}: services.{name}.{key}: {str(service[key])[:60]} is not accepted in a lab's stack")
        for i, volume in enumerate(service.get("volumes") or []):
            source = _bind_source(volume)
            if source is None:
                continue
            path = PurePosixPath(source)
            if path.is_absolute() or source.startswith("~") or ".." in path.parts:
                problems.append(f"{where}: services.{name}.volumes.{i}: {source[:80]} binds a host path outside the stack's folder")
    for section in ("volumes",):
        for name, spec in (doc.get(section) or {}).items():
            if isinstance(spec, dict) and (spec.get("driver_opts") or spec.get("driver") not in (None, "local")):
                problems.append(f"{where}: {section}.{name}: driver options are not accepted in a lab's stack")
    return problems


def compose_project(instance: str) -> str:
    """The compose project of an instance's stack (its containers are <project>-<service>-1)."""
    return f"lab-{instance}"


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
    """Addresses not inside any of the subnets of their own IP version."""
    nets = [ipaddress.ip_network(s, strict=False) for s in subnets]
    outside = []
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if not any(ip.version == n.version and ip in n for n in nets):
            outside.append(address)
    return outside
