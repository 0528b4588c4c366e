"""Docker Engine through the Docker SDK: networks, containers, exec, files into containers, logs."""

from __future__ import annotations

import io
import ipaddress
import tarfile
import time
from dataclasses import dataclass

from orchestrator.errors import MissingPrerequisite, RuntimeFailure

HINT = "start Docker (Docker Desktop, or `sudo systemctl start docker`) and check `docker info`"


@dataclass(frozen=True)
class FileSpec:
    content: bytes
    mode: int = 0o444
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class ExecResult:
    returncode: int
    stdout: str
    stderr: str


def tar_archive(files: dict[str, FileSpec]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        dirs = sorted({"/".join(p.strip("/").split("/")[:i]) for p in files for i in range(1, len(p.strip("/").split("/")))})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for path, spec in sorted(files.items()):
            info = tarfile.TarInfo(path.strip("/"))
            info.size, info.mode, info.uid, info.gid = len(spec.content), spec.mode, spec.uid, spec.gid
            tar.addfile(info, io.BytesIO(spec.content))
    return buffer.getvalue()


class DockerEngine:
    def __init__(self):
        import docker  # imported here: `lab --help` must not pay for it

        self._errors = docker.errors
        try:
            self.client = docker.from_env(timeout=120)
            self.client.ping()
        except Exception as exc:
            raise MissingPrerequisite(f"cannot reach the Docker daemon: {exc}", hint=HINT) from None

    def info(self) -> dict:
        return self.client.info()

    # networks
    def network(self, name: str):
        try:
            return self.client.networks.get(name)
        except self._errors.NotFound:
            return None

    def ensure_network(self, name: str, subnet: str, labels: dict[str, str]) -> list[str]:
        """Create the network with the given subnet (and the lab's labels) when absent; return its subnets."""
        existing = self.network(name)
        if existing is not None:
            return [c.get("Subnet") for c in existing.attrs.get("IPAM", {}).get("Config") or [] if c.get("Subnet")]
        import docker.types

        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet, gateway=str(ipaddress.ip_network(subnet)[1]))])
        try:
            self.client.networks.create(name, driver="bridge", ipam=ipam, labels=labels)
        except self._errors.APIError as exc:
            raise RuntimeFailure(f"docker could not create network {name} ({subnet}): {exc.explanation or exc}") from None
        return [subnet]

    def remove_network_if_unused(self, name: str) -> bool:
        net = self.network(name)
        if net is None:
            return False
        net.reload()
        if net.attrs.get("Containers"):
            return False
        net.remove()
        return True

    # containers
    def container(self, name: str):
        try:
            return self.client.containers.get(name)
        except self._errors.NotFound:
            return None

    def containers(self, labels: dict[str, str]) -> list:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        return self.client.containers.list(all=True, filters=filters)

    def ensure_image(self, ref: str) -> None:
        try:
            self.client.images.get(ref)
        except self._errors.ImageNotFound:
            try:
                self.client.images.pull(ref)
            except Exception as exc:
                raise MissingPrerequisite(f"image {ref} is not present and cannot be pulled: {exc}",
                                          hint="pull it on a connected machine (`lab images save`), or point the lab at a local image with --set images.NAME=...") from None

    def image_present(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
            return True
        except self._errors.ImageNotFound:
            return False

    def run(self, name: str, image: str, command: list[str], *, labels: dict[str, str], files: dict[str, FileSpec] | None = None,
            network: str | None = None, network_mode: str | None = None, user: str | None = None, cap_add: list[str] | None = None,
            init: bool = True) -> None:
        """Create, copy files in with exact owner and mode (no bind mount of key material), start."""
        self.ensure_image(image)
        kwargs = dict(name=name, command=command, labels=labels, init=init, user=user, cap_add=cap_add, detach=True)
        if network_mode:
            kwargs["network_mode"] = network_mode
        elif network:
            kwargs["network"] = network
        try:
            container = self.client.containers.create(image, **kwargs)
            if files:
                container.put_archive("/", tar_archive(files))
            container.start()
        except self._errors.APIError as exc:
            raise RuntimeFailure(f"docker could not start container {name}: {exc.explanation or exc}") from None

    def wait_running(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            container = self.container(name)
            status = container.status if container else "missing"
            if status == "running":
                return
            if status in ("exited", "dead", "missing") or time.monotonic() > deadline:
                logs = container.logs(tail=20).decode(errors="replace") if container else ""
                raise RuntimeFailure(f"container {name} is {status}, not running{': ' + logs.strip() if logs.strip() else ''}")
            time.sleep(0.1)
            container.reload()

    def exec(self, name: str, argv: list[str], user: str | None = None) -> ExecResult:
        container = self.container(name)
        if container is None:
            raise RuntimeFailure(f"container {name} does not exist (is the lab up?)")
        try:
            result = container.exec_run(argv, demux=True, user=user or "")
        except self._errors.APIError as exc:
            raise RuntimeFailure(f"docker exec in {name} failed: {exc.explanation or exc}") from None
        out, err = result.output if result.output else (b"", b"")
        return ExecResult(result.exit_code, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace"))

    def logs(self, name: str) -> str:
        container = self.container(name)
        return container.logs(timestamps=True).decode(errors="replace") if container else ""

    def remove(self, container) -> None:
        try:
            container.remove(force=True, v=True)
        except self._errors.NotFound:
            pass

    def volumes(self, labels: dict[str, str]) -> list:
        return self.client.volumes.list(filters={"label": [f"{k}={v}" for k, v in labels.items()]})

    def networks(self, labels: dict[str, str]) -> list:
        return self.client.networks.list(filters={"label": [f"{k}={v}" for k, v in labels.items()]})
