"""The runtime interface the lifecycle uses as a type, the instance a runtime works on, and what both
runtimes share. A runtime is infrastructure only: it knows no lab, it is handed one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TYPE_CHECKING, ClassVar, Protocol


from orchestrator.errors import BadInput
from orchestrator.spec.model import Chart, Network, PodRef, ownership

if TYPE_CHECKING:
    from orchestrator.network.base import NetworkPlugin
    from orchestrator.providers.process import ExecResult
    from orchestrator.diagnostics import Finding
    from orchestrator.render.artifacts import Rendered
    from orchestrator.spec.model import Lab


@dataclass
class Instance:
    """One running copy of a lab: what `up` recorded, enough for `down` and `status` even when the lab's
    folder was edited or deleted since. `lab` is set for up and verify, None for down and status."""

    lab_name: str
    name: str
    labels: dict[str, str]
    network: Network
    state_dir: Path
    data: dict  # the runtime's own record of what it created, persisted by the lifecycle
    lab: "Lab | None" = None
    rendered_files: "Rendered | None" = field(default=None, repr=False)

    @property
    def rendered(self) -> Path:
        return self.state_dir / "rendered"

    @property
    def selector(self) -> str:
        """The Kubernetes label selector of the instance's objects: every ownership label, never one alone."""
        return ",".join(f"{key}={value}" for key, value in ownership(self.labels).items())

    @property
    def has_stack(self) -> bool:
        """Whether the lab renders a compose stack: only then is Docker Compose one of its prerequisites."""
        from orchestrator.render.artifacts import COMPOSE_FILE

        return COMPOSE_FILE in self.rendered_set().files

    @property
    def compose_project(self) -> str:
        from orchestrator.render.compose import compose_project

        return compose_project(self.name)

    def rendered_set(self) -> "Rendered":
        """What `up` rendered for the instance: handed in by up/verify, else read back once from its folder."""
        if self.rendered_files is None:
            from orchestrator.render.artifacts import read_rendered

            self.rendered_files = read_rendered(self.rendered)
        return self.rendered_files

    @property
    def up_command(self) -> str:
        """`lab up` of this instance as a person types it: what heals a part that is down."""
        return f"`lab up {self.lab_name}" + (f" --instance {self.name}" if self.name != self.lab_name else "") + "`"

    def shell_env(self) -> dict[str, str]:
        """What a participant's shell needs to work on the instance by hand (`lab env`): the admin kubeconfig and
        the folders the guide's commands name (the rendered files, the users' keys and kubeconfigs)."""
        from orchestrator import shellenv
        from orchestrator.kube.users import users_dir

        return {shellenv.KUBECONFIG: str(self.state_dir / "kubeconfig"), shellenv.RENDERED: str(self.rendered),
                shellenv.USERS: str(users_dir(self.state_dir))}

    def require_lab(self) -> "Lab":
        if self.lab is None:
            raise BadInput(f"instance {self.name}: this needs the lab's spec, which was not loaded")
        return self.lab

    def record(self) -> dict:
        return {"lab": self.lab_name, "instance": self.name, "labels": self.labels,
                "network": {"name": self.network.name, "subnet": self.network.subnet}}


class LogFiles:
    """Where a failed run's logs go: `save(name, produce)` writes what produce() returns, or why it could not
    (one missing source must not stop the others); `written` lists the files."""

    def __init__(self, dest: Path):
        dest.mkdir(parents=True, exist_ok=True)
        self.dest, self.written = dest, []

    def __call__(self, name: str, produce) -> None:
        path = self.dest / name
        try:
            path.write_text(produce())
        except Exception as exc:  # any source's failure is told in its file
            path.write_text(f"unavailable: {exc}")
        self.written.append(path)


class Runtime(Protocol):
    """What the lifecycle needs from a runtime: infrastructure verbs. Its network (real or emulated Cilium) is a
    plugin of its own (network/); the lab's objects go to the cluster through `kube`, waits and checks read it
    there. Implementations: runtimes/kind.py, runtimes/docker/runtime.py."""

    name: ClassVar[str]
    instance: Instance
    kubeconfig: Path  # the cluster's admin kubeconfig (0600, in the instance's folder)
    kube: Any  # providers.kube.KubeApi on that kubeconfig
    network: "NetworkPlugin"

    def requirements(self) -> list["Finding"]:
        """What this machine must have for the runtime (doctor findings; the blocking ones stop `up`)."""

    def validate(self, docs: list[dict]) -> list[str]:
        """Problems with the rendered manifests this runtime (and its network) cannot run, before anything exists."""

    def provision(self) -> None:
        """The lab's network, cluster and charts; reused when they exist."""

    def stack_up(self) -> None:
        """The lab's compose stack, when it has one."""

    def reset(self) -> list[str]:
        """Remove the objects a previous run's steps made, so every stage is replayed and checked again."""

    def apply(self, group: str, docs: list[dict]) -> None:
        """The lab's objects into the cluster (server-side apply), then its network follows them."""

    def upgrade(self, chart: Chart, values: Path) -> None:
        """`helm upgrade` of one of the lab's charts with extra values over its own; a runtime where the chart's
        software cannot run applies what of the rendered chart it emulates (chart.emulate)."""

    def find_pod(self, pod: PodRef | None) -> tuple[str, str]:
        """(namespace, name) of a pod of the lab (None: the lab's only pod)."""

    def exec(self, pod: PodRef | None, argv: list[str]) -> ExecResult:
        """Run argv in a pod of the lab (None: the lab's only pod)."""

    def attach_argv(self, namespace: str, pod: str, argv: list[str], tty: bool) -> list[str]:
        """The command line that runs argv in a pod of the lab on the caller's terminal (`lab exec`, `lab shell`)."""

    def logs_argv(self, namespace: str, pod: str, follow: bool, tail: int | None) -> list[str]:
        """The command line that prints (or follows) a pod's logs on the caller's terminal (`lab logs`)."""

    def shell_env(self) -> dict[str, str]:
        """Instance.shell_env(), and what this runtime's by-hand commands need besides (where its cluster CA is)."""

    def health(self) -> list[str]:
        """One line per part of the instance that is not running, naming it and the command that heals it."""

    def cluster_ca(self) -> tuple[bytes, bytes]:
        """The cluster CA's certificate and key (PEM), for signing as the cluster does (the seed's way)."""

    def cluster_certificates(self) -> tuple[list[tuple[str, bytes]], str]:
        """The control plane's certificates (name, PEM), and the cluster's own report of them ('' when none)."""

    def collect_logs(self, dest: Path) -> list[Path]: ...

    def teardown(self) -> list[str]:
        """Remove everything the instance created, from its record alone."""

    def status(self) -> list[dict]: ...

    def access_hint(self) -> str: ...
