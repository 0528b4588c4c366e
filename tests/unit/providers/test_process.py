"""The one way to a child process, as far as a person's terminal goes: `attach` gives back the real exit status
(proven with commands that fail), and a missing program is a missing prerequisite (exit 3)."""

from __future__ import annotations

import pytest

from orchestrator.errors import MissingPrerequisite
from orchestrator.providers import process
from orchestrator.providers.docker_cli import DockerCli


@pytest.mark.parametrize("script, status", [("exit 0", 0), ("exit 3", 3), ("false", 1), ("kill -TERM $$", 143)])
def test_attach_gives_the_commands_exit_status(script, status):
    assert process.attach(["sh", "-c", script]) == status


def test_attach_of_a_missing_program_is_a_missing_prerequisite():
    with pytest.raises(MissingPrerequisite) as err:
        process.attach(["no-such-program-of-lab", "x"])
    assert err.value.exit_code == 3 and "no-such-program-of-lab not found" in err.value.message


def test_command_lines_for_a_person_at_a_container():
    assert DockerCli.attach_argv("lab-x-curl", ["curl", "-s", "http://a/"], False) == ["docker", "exec", "-i", "lab-x-curl", "curl", "-s", "http://a/"]
    assert DockerCli.logs_argv("lab-x-curl", False, None) == ["docker", "logs", "lab-x-curl"]
