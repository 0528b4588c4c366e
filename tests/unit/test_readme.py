"""The README's promises stay true: short enough to read, every command it shows exists (its --help answers),
every lab it names is a lab, every make target is the Makefile's, every link leads to a file."""

from __future__ import annotations

import re

import pytest

from orchestrator.catalog import Catalog, default_lab_roots
from tests.helpers import REPO, run_lab

README = (REPO / "README.md").read_text()
MAX_LINES = 150


def test_the_readme_is_short_and_starts_with_the_lab():
    lines = README.splitlines()
    assert len(lines) < MAX_LINES
    quick = README.index("## Quick start")
    assert quick < README.index("## The labs") < README.index("## Commands")
    block = README[quick:].split("```")[1]
    assert len(block.strip().splitlines()) <= 15 and "make up LAB=" in block


COMMANDS = sorted({m.group(1) for m in re.finditer(r"`lab ([a-z][a-z-]*(?: [a-z][a-z/-]*)?)", README)})


@pytest.mark.parametrize("command", COMMANDS)
def test_every_lab_command_the_readme_shows_exists(command):
    words = command.split()
    if len(words) == 2 and (words[1].isupper() or words[1] in ("list", "show", "verify", "pull/save/load") or "/" in words[1]):
        words = words[:1]  # `lab show LAB`, `lab images pull/save/load`: the command itself
    if len(words) == 2 and words[0] not in ("certs", "images", "completion"):
        words = words[:1]  # a lab named after the command
    result = run_lab(*words, "--help")
    assert result.exit_code == 0, (command, result.stderr)


def test_every_lab_the_readme_names_is_a_lab():
    known = {entry.name for entry in Catalog(default_lab_roots()).entries()}
    named = set(re.findall(r"LAB=([a-z0-9-]+)", README)) | set(re.findall(r"^\| `([a-z0-9-]+)` \|", README, re.M))
    assert named and named <= known, named - known
    assert known <= named, f"labs the README's table does not list: {known - named}"


def test_every_make_target_and_link_the_readme_gives_exists():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    used = set(re.findall(r"make ([a-z][a-z-]*)", README))
    assert used and used <= targets, used - targets
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert links and all((REPO / link).exists() for link in links), [link for link in links if not (REPO / link).exists()]
