"""Step kinds are one module plus a registry line: a kind the house has never seen, registered in a context's
registry, is in the lab schema, is checked by its own rules naming the field, is built, shown, guided and run,
with no other module knowing it."""

from __future__ import annotations

import pytest

from orchestrator.context import LabContext
from orchestrator.errors import SpecErrors
from orchestrator.lifecycle.steps.base import KindStep, Plain
from orchestrator.lifecycle.steps.registry import StepRegistry, default_steps
from tests.helpers import edit_spec, mini_lab_on_path


class AnnounceStep(Plain):
    """A step kind of this test only: says a line (to a participant), refusing an empty one."""

    name = "announce"
    verb = "announce"
    schema = {"type": "string", "maxLength": 80}
    changes_cluster = False

    def problems(self, value, spec):
        return [("", "say something")] if not value.strip() else []

    def run(self, step, run) -> None:
        run.said.append(step.params)

    def describe(self, step, lab):
        return {"text": step.params}, f"say {step.params!r}"

    def by_hand(self, step, hand) -> None:
        hand.commands.append(f"echo {step.params!r}")


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    lab_dir = mini_lab_on_path(tmp_path, monkeypatch)
    kinds = StepRegistry([*default_steps(), AnnounceStep()])
    return LabContext(workdir=tmp_path, steps=kinds), lab_dir


def test_a_new_step_kind_is_one_class_and_a_registry_line(ctx):
    context, lab_dir = ctx
    edit_spec(lab_dir, lambda spec: spec["steps"].insert(0, {"name": "hello", "announce": "welcome to {{ namespace }}"}))
    lab = context.load("mini")
    step = lab.steps[0]
    assert (step.kind, step.params) == ("announce", "welcome to mini")
    kind = context.steps.get(step.kind)
    assert kind.describe(step, lab) == ({"text": "welcome to mini"}, "say 'welcome to mini'")

    class Run:
        said: list = []
        stage_started = 0.0

    KindStep(step, kind).run(Run)
    assert Run.said == ["welcome to mini"]


def test_its_rules_and_schema_are_the_loaders(ctx):
    context, lab_dir = ctx
    edit_spec(lab_dir, lambda spec: spec["steps"].append({"name": "empty", "announce": "  "}))
    with pytest.raises(SpecErrors, match=r"steps\.2\.announce: say something"):
        context.load("mini")
    edit_spec(lab_dir, lambda spec: spec["steps"][2].update(announce=["not", "text"]))
    with pytest.raises(SpecErrors, match=r"steps\.2\.announce: \['not', 'text'\] is not of type 'string'"):
        context.load("mini")


def test_without_its_registry_line_it_is_unknown(tmp_path, monkeypatch):
    edit_spec(mini_lab_on_path(tmp_path, monkeypatch), lambda spec: spec["steps"].append({"name": "hello", "announce": "hi"}))
    with pytest.raises(SpecErrors, match=r"steps\.2: unknown field 'announce'"):
        LabContext(workdir=tmp_path).load("mini")
