"""kubectl as a person runs it against a lab's cluster: the command lines `lab exec`, `lab shell` and `lab logs` hand
to the terminal on the kind runtime (the tool's own calls go through the API client, providers/kube.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.providers import process


def find_kubectl() -> str | None:
    """kubectl on PATH, else the one `make images` builds from its Go module (a laptop without kubectl still gets
    `lab exec`, `lab shell` and `lab logs` on kind)."""
    return process.which_or_built("kubectl")


@dataclass(frozen=True)
class KubectlCli:
    kubeconfig: Path

    def _base(self) -> list[str]:
        # Not found: the argv keeps the bare name, and attach() says "kubectl not found on PATH" (exit 3).
        return [find_kubectl() or "kubectl", "--kubeconfig", str(self.kubeconfig)]

    def attach_argv(self, namespace: str, pod: str, argv: list[str], tty: bool) -> list[str]:
        return [*self._base(), "exec", "-i", *(["-t"] if tty else []), "-n", namespace, pod, "--", *argv]

    def logs_argv(self, namespace: str, pod: str, follow: bool, tail: int | None) -> list[str]:
        return [*self._base(), "logs", "-n", namespace, pod, *(["--follow"] if follow else []),
                *([f"--tail={tail}"] if tail is not None else [])]
