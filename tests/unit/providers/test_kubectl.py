"""kubectl as `lab exec`, `lab shell` and `lab logs` hand it to the terminal on kind: found on PATH, else where
`make images` built it, so a laptop without kubectl still reaches its pods; found nowhere, the command says so
(exit 3) instead of a shell's "command not found"."""

from __future__ import annotations

import pytest

from orchestrator.errors import MissingPrerequisite
from orchestrator.providers import process
from orchestrator.providers.kubectl import KubectlCli
from orchestrator.runtimes.kind import kubectl_version


def _kubectl(folder, says: str) -> None:
    """A kubectl that prints who it is and its arguments (and a client version as `kubectl version` does)."""
    (folder / "kubectl").write_text(f"""#!/bin/sh
case "$*" in *"version --client"*) echo '{{"clientVersion": {{"gitVersion": "{says}"}}}}'; exit 0;; esac
echo {says} "$@"
""")
    (folder / "kubectl").chmod(0o755)


def test_command_lines_for_a_person_at_a_pod(machine, tmp_path):
    path, _ = machine
    _kubectl(path, "installed")
    kubeconfig = tmp_path / "kubeconfig"
    kubectl = KubectlCli(kubeconfig)
    found = str(path / "kubectl")
    assert kubectl.attach_argv("mtls", "curl", ["sh"], True) == [found, "--kubeconfig", str(kubeconfig), "exec", "-i", "-t", "-n", "mtls",
                                                                  "curl", "--", "sh"]
    assert kubectl.logs_argv("mtls", "curl", True, 5) == [found, "--kubeconfig", str(kubeconfig), "logs", "-n", "mtls", "curl",
                                                            "--follow", "--tail=5"]


def test_the_built_kubectl_answers_when_none_is_on_path(machine, tmp_path, capfd):
    _, built = machine
    _kubectl(built, "built")
    argv = KubectlCli(tmp_path / "kubeconfig").logs_argv("mtls", "curl", False, None)
    assert argv[0] == str(built / "kubectl")
    assert process.attach(argv) == 0
    assert capfd.readouterr().out.split()[:3] == ["built", "--kubeconfig", str(tmp_path / "kubeconfig")]
    assert kubectl_version() == "built"  # what `lab doctor` reports on kind


def test_kubectl_on_path_comes_first(machine, tmp_path):
    path, built = machine
    _kubectl(built, "built")
    _kubectl(path, "installed")
    assert KubectlCli(tmp_path / "kubeconfig").logs_argv("mtls", "curl", False, None)[0] == str(path / "kubectl")
    assert kubectl_version() == "installed"


def test_no_kubectl_anywhere_is_a_missing_prerequisite(machine, tmp_path):
    argv = KubectlCli(tmp_path / "kubeconfig").attach_argv("mtls", "curl", ["sh"], False)
    assert argv[0] == "kubectl"
    with pytest.raises(MissingPrerequisite, match="kubectl not found on PATH") as err:
        process.attach(argv)
    assert err.value.exit_code == 3
    assert kubectl_version() is None
