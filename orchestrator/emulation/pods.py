"""Pods as containers: what the docker runtime does instead of a kubelet.

A single-container Pod becomes a container named `lab-<instance>-<pod>` on the lab's network, its secret
volumes copied in with their modes (no bind mount of key material). Whatever a pod spec asks for that
this cannot do is reported by `problems()` before anything runs, naming the field.
"""

from __future__ import annotations

import base64
import time

from orchestrator.errors import RuntimeFailure
from orchestrator.providers.docker import DockerEngine, FileSpec
from orchestrator.runtimes.base import ExecResult

POD_ROLE = "pod"
ROLE_LABEL = "lab.dev/role"
POD_LABEL = "lab.dev/pod"
SUPPORTED_CONTAINER_FIELDS = {"name", "image", "imagePullPolicy", "command", "args", "resources", "volumeMounts", "env"}
SUPPORTED_POD_FIELDS = {"containers", "volumes", "terminationGracePeriodSeconds", "restartPolicy"}


def pod_problems(pod: dict, secrets: dict[tuple[str, str], dict]) -> list[str]:
    """What in a Pod the docker runtime cannot run, one line per field."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    where = f"Pod {meta.get('namespace', 'default')}/{meta['name']}"
    problems = [f"{where}: spec.{key}: not supported by the docker runtime" for key in sorted(set(spec) - SUPPORTED_POD_FIELDS)]
    containers = spec.get("containers") or []
    if len(containers) != 1:
        problems.append(f"{where}: spec.containers: the docker runtime runs single-container pods ({len(containers)} given)")
        return problems
    container = containers[0]
    problems += [f"{where}: spec.containers.0.{key}: not supported by the docker runtime"
                 for key in sorted(set(container) - SUPPORTED_CONTAINER_FIELDS)]
    for i, env in enumerate(container.get("env") or []):
        if "value" not in env:
            problems.append(f"{where}: spec.containers.0.env.{i}: only literal values are supported by the docker runtime")
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    for i, mount in enumerate(container.get("volumeMounts") or []):
        volume = volumes.get(mount["name"])
        if volume is None:
            problems.append(f"{where}: spec.containers.0.volumeMounts.{i}: no volume named {mount['name']}")
        elif "secret" not in volume:
            problems.append(f"{where}: spec.volumes.{mount['name']}: the docker runtime mounts secret volumes only")
        elif (meta.get("namespace", "default"), volume["secret"].get("secretName")) not in secrets:
            problems.append(f"{where}: spec.volumes.{mount['name']}: Secret {volume['secret'].get('secretName')} is not among the lab's manifests")
    return problems


class PodRunner:
    def __init__(self, engine: DockerEngine, instance_name: str, labels: dict[str, str], network: str):
        self.engine = engine
        self.instance_name = instance_name
        self.labels = labels
        self.network = network

    def container_name(self, pod_name: str) -> str:
        return f"lab-{self.instance_name}-{pod_name}"

    def run(self, pod: dict, secrets: dict[tuple[str, str], dict], *, cap_add: list[str] | None = None) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        container = spec["containers"][0]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        files: dict[str, FileSpec] = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]["secret"]
            secret = secrets[(meta.get("namespace", "default"), volume["secretName"])]
            mode = volume.get("defaultMode", 0o644)
            for key, value in (secret.get("data") or {}).items():
                files[f"{mount['mountPath']}/{key}"] = FileSpec(base64.b64decode(value), mode)
            for key, value in (secret.get("stringData") or {}).items():
                files[f"{mount['mountPath']}/{key}"] = FileSpec(value.encode(), mode)
        name = self.container_name(meta["name"])
        existing = self.engine.container(name)
        if existing is not None:
            if existing.status == "running":
                return  # converge: the pod exists
            self.engine.remove(existing)
        command = list(container.get("command", [])) + list(container.get("args", []))
        labels = {**self.labels, ROLE_LABEL: POD_ROLE, POD_LABEL: meta["name"]}
        self.engine.run(name, container["image"], command, labels=labels, files=files, network=self.network, cap_add=cap_add,
                        environment={e["name"]: e["value"] for e in container.get("env", [])})

    def wait_ready(self, pod_name: str, timeout: float) -> None:
        """Running and answering an exec: the nearest thing to Ready without probes."""
        name = self.container_name(pod_name)
        self.engine.wait_running(name, timeout)
        deadline = time.monotonic() + timeout
        while self.engine.exec(name, ["true"]).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"pod {pod_name} (container {name}) is not ready after {timeout:.0f}s")
            time.sleep(0.2)

    def exec(self, pod_name: str, argv: list[str]) -> ExecResult:
        return self.engine.exec(self.container_name(pod_name), argv)


def secrets_by_name(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["metadata"].get("namespace", "default"), d["metadata"]["name"]): d for d in docs if d.get("kind") == "Secret"}
