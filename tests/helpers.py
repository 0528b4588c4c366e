"""Shared test helpers: run the CLI like a user, write specs into tmp_path, call real openssl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import click
import yaml
from click.testing import CliRunner

from orchestrator.cli import main

REPO = Path(__file__).resolve().parent.parent
FIXTURE_LABS = REPO / "tests" / "fixtures" / "labs"
LABS = REPO / "labs"
FAKE_TOOL = REPO / "tests" / "contract" / "fakes" / "fake_tool.py"


def files(path: Path) -> list[str]:
    """Every path under a folder, relative: what a command left behind."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def fake_calls(fake: Path) -> list[list[str]]:
    """The calls the fake docker, kind and helm recorded."""
    log = fake / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _entry(args):
    main(list(args))


def run_lab(*args: str) -> CliResult:
    """Run `lab ARGS` through Click's runner and the real exit path (`main`)."""
    environment = dict(os.environ)  # a command is a process: what it sets in its environment (--bundle) ends with it
    try:
        result = CliRunner().invoke(_entry, list(args), catch_exceptions=False)
    finally:
        if dict(os.environ) != environment:
            os.environ.clear()
            os.environ.update(environment)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def copy_lab(src_name: str, dest_root: Path, root: Path = FIXTURE_LABS) -> Path:
    dest = dest_root / src_name
    shutil.copytree(root / src_name, dest)
    return dest


def mini_lab_on_path(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the fixture lab `mini` in a lab folder of its own, that folder on LAB_PATH; the copy's folder."""
    root = tmp_path / "labs"
    root.mkdir()
    monkeypatch.setenv("LAB_PATH", str(root))
    return copy_lab("mini", root, FIXTURE_LABS)


def edit_spec(lab_dir: Path, change) -> None:
    spec_file = lab_dir / "lab.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    change(spec)
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))


def openssl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=check)


def load_lab(entry, **options):
    """The spec loader with the default registries (check kinds, wait kinds, runtime names), as the context hands them."""
    from orchestrator.context import LabContext
    from orchestrator.spec import load_lab as load

    ctx = LabContext()
    return load(entry, checks=ctx.checks, waits=ctx.waits, steps=ctx.steps, runtimes=ctx.runtimes, **options)


def offline_bundle() -> Path | None:
    """The bundle `lab` itself resolves upstream files from (LAB_BUNDLE, else one beside the project)."""
    from orchestrator.upstream import bundles

    found = bundles()
    return found[0] if found else None
