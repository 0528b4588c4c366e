"""kubectl as a person runs it against a lab's cluster: the command lines `lab exec`, `lab shell` and `lab logs` hand
to the terminal on the kind runtime (the tool's own calls go through the API client, providers/kube.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class KubectlCli:
    kubeconfig: Path

    def _base(self) -> list[str]:
        return ["kubectl", "--kubeconfig", str(self.kubeconfig)]

    def attach_argv(self, namespace: str, pod: str, argv: list[str], tty: bool) -> list[str]:
        return [*self._base(), "exec", "-i", *(["-t"] if tty else []), "-n", namespace, pod, "--", *argv]

    def logs_argv(self, namespace: str, pod: str, follow: bool, tail: int | None) -> list[str]:
        return [*self._base(), "logs", "-n", namespace, pod, *(["--follow"] if follow else []),
                *([f"--tail={tail}"] if tail is not None else [])]
