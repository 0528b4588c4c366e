"""The guide, proven by running it: for every lab on the docker runtime, the "By hand" commands of the guide `lab
guide` writes (read from its Markdown, not a second copy) run in bash in order, from the guide's own first step
(`lab up LAB --until <first stage>` and `eval "$(lab env LAB)"`), and `lab check LAB STAGE` passes after each
stage's commands. A step's commands must succeed; a check's may fail as the check expects (a refused handshake),
but must run (no command missing, no usage error)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.providers.process import COMPONENTS_BIN
from tests.e2e.conftest import REPO, lab

LABS = ["inject-mtls", "k8s-user-certs", "webhook-ca-repair", "starwars-policy", "hubble-tls"]
STEP = re.compile(r"^#### \d+\. (\S+) \(")
NOT_RUN = (126, 127)  # the shell could not find or start a command


def guide_blocks(markdown: str) -> list[tuple[str, str]]:
    """(step name, its bash block), in the guide's order."""
    found, step, block = [], None, None
    for line in markdown.splitlines():
        if block is not None:
            if line == "```":
                found.append((step, "\n".join(block)))
                block = None
            else:
                block.append(line)
        elif (match := STEP.match(line)) is not None:
            step = match.group(1)
        elif line == "```bash" and step is not None:
            block = []
    return found


def bash(workdir: Path, script: str, env: dict, strict: bool) -> subprocess.CompletedProcess:
    prelude = "set -e -o pipefail\n" if strict else ""
    return subprocess.run(["bash", "-c", prelude + script], cwd=workdir, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=900)


@pytest.mark.parametrize("name", LABS)
def test_the_guides_commands_do_every_stage(tmp_path, docker_engine, name):
    (tmp_path / "images.yaml").write_text((REPO / "images.local.yaml").read_text())
    written = lab(tmp_path, "guide", name, "--runtime", "docker", "--images", "images.yaml", "--format", "md", "--out", "guide")
    assert written.returncode == 0, written.stderr
    blocks = guide_blocks((tmp_path / "guide" / "guide.md").read_text())
    assert blocks[0][0] == "setup" and f"lab up {name} --runtime docker --images images.yaml --until " in blocks[0][1]
    shown = json.loads(lab(tmp_path, "show", name, "-o", "json").stdout)
    checks = {s["name"] for s in shown["steps"] if s.get("check")}
    elsewhere = {s["name"] for s in shown["steps"] if "docker" not in (s.get("runtimes") or (s.get("check") or {}).get("runtimes") or ["docker"])}
    # A participant's shell: `lab` and kubectl on PATH (kubectl built by `make images`, as doctor asks for one).
    env = {**os.environ, "COLUMNS": "400", "PATH": f"{Path(sys.executable).parent}:{COMPONENTS_BIN}:{os.environ['PATH']}"}
    try:
        started = bash(tmp_path, blocks[0][1], env, strict=True)
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        stages = json.loads(lab(tmp_path, "steps", name, "-o", "json").stdout)["stages"]
        stage_of = {step: s["stage"] for s in stages for step in s["steps"] + s["checks"]}
        ran = {step for step, _ in blocks[1:]}
        assert ran == set(stage_of) - elsewhere, "the guide shows every step the docker runtime runs, and no other"
        for index, (step, script) in enumerate(blocks[1:], 1):
            done = bash(tmp_path, f'eval "$(lab env {name})"\n{script}', env, strict=step not in checks)
            said = f"{name} step {step}:\n{script}\n--- exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            if step in checks:
                assert done.returncode not in NOT_RUN and "command not found" not in done.stderr, said
                assert "unknown flag" not in done.stderr and "Usage:" not in done.stderr, said
            else:
                assert done.returncode == 0, said
            following = blocks[index + 1][0] if index + 1 < len(blocks) else None
            if following is None or stage_of[following] != stage_of[step]:
                checked = lab(tmp_path, "check", name, stage_of[step], timeout=600)
                assert checked.returncode == 0, f"stage {stage_of[step]} after its commands:\n" + checked.stdout[-4000:] + checked.stderr[-2000:]
        statuses = {s["stage"]: s["status"] for s in json.loads(lab(tmp_path, "steps", name, "-o", "json").stdout)["stages"]}
        assert set(statuses.values()) == {"done"}, statuses
    finally:
        down = lab(tmp_path, "down", name)
    assert down.returncode == 0, down.stderr
