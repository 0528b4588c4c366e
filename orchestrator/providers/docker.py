"""Docker Engine through the Docker SDK: networks, containers, exec, files into containers, logs.

Every engine error becomes a LabError here: a refused request is a RuntimeFailure naming what was asked;
an engine that stopped answering, or a container that is gone, is a PermanentFailure (waiting won't help).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import ipaddress
import os
import tarfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import LabError, MissingPrerequisite, PermanentFailure, RuntimeFailure
from orchestrator.files import locked
from orchestrator.install import fix
from orchestrator.providers.docker_cli import HINT
from orchestrator.providers.process import ExecResult
from orchestrator.spec.model import OWNER_LABEL, owned, ownership


@dataclass(frozen=True)
class FileSpec:
    content: bytes
    mode: int = 0o444
    uid: int = 0
    gid: int = 0


def tar_archive(files: dict[str, FileSpec], links: dict[str, str] | None = None) -> bytes:
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
        for path, target in (links or {}).items():  # after the files: a link replaced last switches atomically enough
            info = tarfile.TarInfo(path.strip("/"))
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
            tar.addfile(info)
    return buffer.getvalue()


@contextlib.contextmanager
def engine_errors(what: str):
    """Translate what the SDK raises into the tool's errors, naming what was being done."""
    import docker
    import requests

    try:
        yield
    except LabError:
        raise
    except docker.errors.NotFound as exc:
        raise PermanentFailure(f"{what}: {exc.explanation or exc}") from None
    except docker.errors.APIError as exc:
        text = str(exc.explanation or exc)
        if "is not running" in text or "is restarting" in text:
            raise PermanentFailure(f"{what}: {text}") from None
        raise RuntimeFailure(f"{what}: {text}") from None
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise PermanentFailure(f"{what}: the Docker engine stopped answering ({str(exc).splitlines()[0][:200]})",
                               hint=HINT) from None


def _label_filter(labels: dict[str, str]) -> dict[str, list[str]]:
    """Docker's filter for objects carrying every one of these labels, which must include the full set of an
    instance's ownership labels (refused otherwise: an empty filter lists every object on the engine)."""
    ownership(labels)
    return {"label": [f"{k}={v}" for k, v in labels.items()]}


def _not_ours(kind: str, name: str) -> PermanentFailure:
    return PermanentFailure(f"{kind} {name} exists but was not made by this lab instance (it lacks its ownership labels); "
                            "`lab` never removes it: remove or rename it yourself, or use another --instance")


@dataclass(frozen=True)
class ContainerState:
    name: str
    labels: dict[str, str]
    status: str  # created, running, exited, ...


def _subnets(network) -> list[str]:
    return [c.get("Subnet") for c in network.attrs.get("IPAM", {}).get("Config") or [] if c.get("Subnet")]


NETWORK_SETTLE = 3.0  # seconds a network another instance is making may take to show by its name


def networks_lock_folder() -> Path:
    """One per user of this machine (XDG_RUNTIME_DIR, else ~/.cache): every instance's `lab` process meets there."""
    base = os.environ.get("XDG_RUNTIME_DIR") or str(Path.home() / ".cache")
    return Path(base) / "lab" / "networks"


def networks_guard(*, exclusive: bool):
    """Instances share the kind network. One joining it (found or made, until its first containers run and so
    hold it) takes this lock shared; one removing it once unused takes it exclusive, so the network is never
    removed between another instance's look and its first container."""
    return locked(networks_lock_folder(), "lock of the shared networks", shared=not exclusive)


def docker_time(stamp: str) -> float:
    """A Docker timestamp (RFC 3339 in UTC with nanoseconds, as its logs and inspect give them) in epoch seconds."""
    return dt.datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()


def connect_in_background() -> Future:
    """A DockerEngine made in a daemon thread (the SDK's import and a ping take a tenth of a second): the engine,
    or the error making it raised, when its result is asked for."""
    ahead: Future = Future()

    def connect() -> None:
        try:
            ahead.set_result(DockerEngine())
        except BaseException as exc:
            ahead.set_exception(exc)

    threading.Thread(target=connect, daemon=True).start()
    return ahead


class DockerEngine:
    def __init__(self):
        import docker  # imported here: `lab --help` must not pay for it

        self._errors = docker.errors
        try:
            self.client = docker.from_env(timeout=120)
            self.client.ping()
        except Exception as exc:
            raise MissingPrerequisite(f"cannot reach the Docker daemon: {str(exc).splitlines()[0][:200]}", hint=HINT) from None

    def info(self) -> dict:
        return self.client.info()

    # networks
    def network(self, name: str):
        with engine_errors(f"inspect network {name}"):
            try:
                return self.client.networks.get(name)
            except self._errors.NotFound:
                return None

    def ensure_network(self, name: str, subnet: str, labels: dict[str, str]) -> list[str]:
        """Create the network with the given subnet (and the lab's labels) when absent; return its subnets."""
        existing = self.network(name)
        if existing is not None:
            return _subnets(existing)
        import docker.types

        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet, gateway=str(ipaddress.ip_network(subnet)[1]))])
        try:
            self.client.networks.create(name, driver="bridge", ipam=ipam, labels=labels)
        except self._errors.APIError as exc:
            # Instances started at once share the network: another may be making it since the look above (Docker
            # then refuses the name, or the subnet as overlapping, a moment before the network shows by its name).
            # Theirs is the one to use.
            deadline = time.monotonic() + NETWORK_SETTLE
            while True:
                made = self.network(name)
                if made is not None:
                    return _subnets(made)
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            raise RuntimeFailure(f"docker could not create network {name} ({subnet}): {exc.explanation or exc}") from None
        return [subnet]

    def remove_network_if_unused(self, name: str) -> bool:
        """A network a lab made (it carries managed-by=lab, whichever instance made it), once no container uses it."""
        with engine_errors(f"remove network {name}"):
            net = self.network(name)
            if net is None:
                return False
            if (net.attrs.get("Labels") or {}).get(OWNER_LABEL) != "lab":
                return False
            net.reload()
            if net.attrs.get("Containers"):
                return False
            try:
                net.remove()
            except self._errors.APIError as exc:
                # A container another instance is starting, or removing, holds an endpoint that inspect does not
                # list yet (or any more): in use; the last instance down removes it.
                if "active endpoints" in str(exc.explanation or exc):
                    return False
                raise
            return True

    # containers
    def container(self, name: str):
        with engine_errors(f"inspect container {name}"):
            try:
                return self.client.containers.get(name)
            except self._errors.NotFound:
                return None

    def containers(self, labels: dict[str, str]) -> list:
        with engine_errors("list containers"):
            return self.client.containers.list(all=True, filters=_label_filter(labels))

    def states(self, labels: dict[str, str]) -> list[ContainerState]:
        """Name, labels and state of each container with these labels, from one list call: `containers()` reads
        every container in full besides, ten times the cost, which a check paying it at each attempt notices."""
        with engine_errors("list containers"):
            listed = self.client.api.containers(all=True, filters=_label_filter(labels))
        return [ContainerState(item["Names"][0].lstrip("/"), item.get("Labels") or {}, item.get("State", "")) for item in listed]

    def ensure_image(self, ref: str) -> None:
        try:
            self.client.images.get(ref)
        except self._errors.ImageNotFound:
            try:
                self.client.images.pull(ref)
            except Exception as exc:
                raise MissingPrerequisite(f"image {ref} is not present and cannot be pulled: {exc}",
                                          hint="pull it on a connected machine (`lab images save`/`load`), or point the lab at local images: "
                                               "--images FILE or --set images.NAME=..." + fix(" (or `make up IMAGES=local`)", "")) from None

    def image_present(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
            return True
        except self._errors.ImageNotFound:
            return False

    def run(self, name: str, image: str, command: list[str], *, labels: dict[str, str], files: dict[str, FileSpec] | None = None,
            network: str | None = None, network_mode: str | None = None, user: str | None = None, cap_add: list[str] | None = None,
            init: bool = True, environment: dict[str, str] | None = None, aliases: list[str] | None = None,
            entrypoint: list[str] | None = None, workdir: str | None = None, tmpfs: dict[str, str] | None = None,
            publish: dict[str, tuple[str, int | None]] | None = None, ipv4_address: str | None = None,
            volumes: dict[str, str] | None = None, volumes_read_only: bool = True, read_only: bool = False,
            cap_drop: list[str] | None = None, no_new_privileges: bool = False, start: bool = True, group_add: list[str] | None = None):
        """Create, copy files in with exact owner and mode (no bind mount of key material), start. `volumes`:
        named volume -> path, read-only unless said (a kubelet mounts secret and configMap volumes read-only).
        With start=False the container is only created (and not read again): start() it later."""
        import docker.types

        self.ensure_image(image)
        kwargs = dict(name=name, command=command or None, labels=labels, init=init, user=user, cap_add=cap_add, detach=True,
                      environment=environment or None, entrypoint=entrypoint, working_dir=workdir, tmpfs=tmpfs, ports=publish,
                      read_only=read_only, cap_drop=cap_drop, group_add=group_add, security_opt=["no-new-privileges"] if no_new_privileges else None,
                      # no_copy: a volume holds what was written to it, never the image's files at its path (Docker
                      # copies those into an empty volume at create, as a kubelet's volumes never have them)
                      mounts=[docker.types.Mount(path, volume, type="volume", read_only=volumes_read_only, no_copy=True)
                              for volume, path in (volumes or {}).items()] or None)
        if network_mode:
            kwargs["network_mode"] = network_mode
        elif network:
            endpoint = self.client.api.create_endpoint_config(aliases=aliases or None, ipv4_address=ipv4_address)
            kwargs["networking_config"] = {network: endpoint}
            kwargs["network"] = network
        with engine_errors(f"start container {name}"):
            container = self.client.containers.create(image, **kwargs)
            if files:
                container.put_archive("/", tar_archive(files))
            if start:
                container.start()
                container.reload()
            return container

    def start(self, container) -> None:
        """A container made with run(start=False)."""
        with engine_errors(f"start container {container.name}"):
            container.start()

    def stop(self, container, timeout: int = 5) -> None:
        """Stopped: SIGTERM, then SIGKILL after `timeout` seconds."""
        with engine_errors(f"stop container {container.name}"):
            container.stop(timeout=timeout)

    def restart(self, container, timeout: int = 5) -> None:
        """Stopped (SIGTERM, then SIGKILL after `timeout` seconds) and started again, as it is."""
        with engine_errors(f"restart container {container.name}"):
            container.restart(timeout=timeout)

    def put_files(self, container, path: str, files: dict[str, FileSpec], links: dict[str, str] | None = None) -> None:
        """Files (and symlinks: name -> target) into a container's folder, running or not."""
        with engine_errors(f"copy files into container {container.name}"):
            container.put_archive(path, tar_archive(files, links))

    def create_volume(self, name: str, labels: dict[str, str]):
        with engine_errors(f"create volume {name}"):
            return self.client.volumes.create(name, labels=labels)

    def remove_volume(self, volume, owner: dict[str, str]) -> None:
        if not owned((volume.attrs or {}).get("Labels"), owner):
            raise _not_ours("volume", volume.name)
        with engine_errors(f"remove volume {volume.name}"):
            try:
                volume.remove(force=True)
            except self._errors.NotFound:
                pass

    def wait_running(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with engine_errors(f"wait for container {name}"):
            while True:
                container = self.container(name)
                status = container.status if container else "missing"
                if status == "running":
                    return
                if status in ("exited", "dead", "missing") or time.monotonic() > deadline:
                    logs = container.logs(tail=20).decode(errors="replace") if container else ""
                    raise RuntimeFailure(f"container {name} is {status}, not running{': ' + logs.strip()[-1000:] if logs.strip() else ''}")
                time.sleep(0.1)

    def exec(self, name: str, argv: list[str], user: str | None = None) -> ExecResult:
        with engine_errors(f"exec in container {name}"):
            container = self.container(name)
            if container is None:
                raise PermanentFailure(f"container {name} does not exist (is the lab up? `lab status`)")
            result = container.exec_run(argv, demux=True, user=user or "")
        out, err = result.output if result.output else (b"", b"")
        return ExecResult(result.exit_code, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace"))

    def logs(self, name: str, since: float | None = None) -> str:
        """Its log, each line timestamped; `since`: only what it wrote from that time on (epoch seconds)."""
        with engine_errors(f"logs of container {name}"):
            container = self.container(name)
            return container.logs(timestamps=True, since=since).decode(errors="replace") if container else ""

    def remove(self, container, owner: dict[str, str]) -> None:
        """A container, or a ContainerState from states(): removed by name, with its anonymous volumes, only when it
        carries the owner's ownership labels."""
        if not owned(container.labels, owner):
            raise _not_ours("container", container.name)
        with engine_errors(f"remove container {container.name}"):
            try:
                self.client.api.remove_container(container.name, force=True, v=True)
            except self._errors.NotFound:
                pass

    def volumes(self, labels: dict[str, str]) -> list:
        with engine_errors("list volumes"):
            return self.client.volumes.list(filters=_label_filter(labels))

    def networks(self, labels: dict[str, str]) -> list:
        with engine_errors("list networks"):
            return self.client.networks.list(filters=_label_filter(labels))
