"""The registry of homes: every home `lab up` used, so instances are found from anywhere; the file is state,
so what is not a home of ours in it is dropped, never followed."""

from __future__ import annotations

import json
import os

from orchestrator.lifecycle.homes import home_of, instances_everywhere, known_homes, remember


def make_home(path, *instances):
    for name in instances:
        (path / ".lab" / name).mkdir(parents=True)
        (path / ".lab" / name / "state.json").write_text("{}")
    (path / ".lab").mkdir(parents=True, exist_ok=True)
    return path


def test_every_home_up_used_is_found_from_anywhere(tmp_path, own_registry):
    one, two, here = make_home(tmp_path / "one", "a"), make_home(tmp_path / "two", "b", "c"), tmp_path / "here"
    here.mkdir()
    remember(one)
    remember(two)
    remember(one)  # once, and the latest first
    assert json.loads(own_registry.read_text())["homes"] == [str(one), str(two)]
    assert own_registry.stat().st_mode & 0o777 == 0o600
    pairs, dropped = instances_everywhere(here)
    assert pairs == [(one, "a"), (two, "b"), (two, "c")] and dropped == []
    assert home_of(here, "c") == two and home_of(here, "zz") is None
    assert home_of(make_home(here, "c"), "c") == here  # the current home first


def test_what_is_not_a_home_is_dropped_never_followed(tmp_path, own_registry):
    good, gone, plain = make_home(tmp_path / "good", "a"), tmp_path / "gone", tmp_path / "plain"
    plain.mkdir()
    linked = tmp_path / "linked"
    linked.mkdir()
    os.symlink(good / ".lab", linked / ".lab")  # a .lab that is a link: not ours
    own_registry.write_text(json.dumps({"homes": ["relative/home", str(gone), str(plain), str(linked), 7, str(good), str(good)]}))
    homes, dropped = known_homes(tmp_path)
    assert homes == [tmp_path, good]
    assert [d.split(": ", 1)[1] for d in dropped] == ["'relative/home' is not an absolute path", "'7' is not an absolute path"]


def test_a_broken_registry_is_named_and_rewritten_by_the_next_up(tmp_path, own_registry):
    home = make_home(tmp_path / "home", "a")
    for broken in ("{not json", json.dumps(["a list"]), json.dumps({"homes": "one"})):
        own_registry.write_text(broken)
        homes, dropped = known_homes(tmp_path)
        assert homes == [tmp_path] and len(dropped) == 1 and str(own_registry) in dropped[0]
    own_registry.unlink()
    os.mkfifo(own_registry)  # not a regular file: refused without blocking on it
    assert "must be a regular file, not a FIFO" in known_homes(tmp_path)[1][0]
    own_registry.unlink()
    own_registry.write_text("{}")
    remember(home)
    assert known_homes(tmp_path) == ([tmp_path, home], [])
