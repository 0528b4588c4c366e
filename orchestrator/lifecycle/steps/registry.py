"""Step kinds by name, in the order `lab show` and the schema list them: explicit, built by `default_steps()`."""

from __future__ import annotations

from orchestrator.lifecycle.steps.base import StepKind
from orchestrator.registry import Registry


class StepRegistry(Registry[StepKind]):
    what = "step kind"

    def __init__(self, entries):
        super().__init__(entries, ordered=True)


def default_steps() -> StepRegistry:
    from orchestrator.lifecycle.steps.apply import ApplyStep
    from orchestrator.lifecycle.steps.check import CheckStep
    from orchestrator.lifecycle.steps.patch import PatchStep
    from orchestrator.lifecycle.steps.restart import RestartStep
    from orchestrator.lifecycle.steps.secret import SecretStep
    from orchestrator.lifecycle.steps.upgrade import UpgradeStep
    from orchestrator.lifecycle.steps.user import UserStep
    from orchestrator.lifecycle.steps.wait import WaitStep

    return StepRegistry([ApplyStep(), WaitStep(), CheckStep(), UserStep(), PatchStep(), SecretStep(), RestartStep(), UpgradeStep()])
