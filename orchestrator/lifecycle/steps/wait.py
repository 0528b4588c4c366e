"""`wait: {for: KIND, ...}`: an object reaches a state (one of the wait kinds of kube/waits.py)."""

from __future__ import annotations

from orchestrator.lifecycle.steps.base import ByHand, Plain
from orchestrator.spec.model import DEFAULT_WAIT_TIMEOUT, Wait


class WaitStep(Plain):
    name = "wait"
    verb = "wait"
    schema = {"$ref": "#/$defs/wait"}  # assembled from the wait kinds
    changes_cluster = False

    def build(self, value, step_name: str, registries) -> Wait:
        return Wait.from_spec(value, DEFAULT_WAIT_TIMEOUT)

    def run(self, step, run) -> None:
        from orchestrator.kube import apply as kube_apply

        kube_apply.wait(run.runtime.kube, step.params, run.ctx.waits.get(step.params.kind))

    def describe(self, step, lab) -> tuple[dict, str]:
        wait = step.params
        where = f"{wait.params['namespace']}/" if wait.params.get("namespace") else ""
        return {"for": wait.kind, **wait.params, "timeout": wait.timeout}, f"wait for {wait.kind} {where}{wait.params.get('name', '')}"

    def by_hand(self, step, hand: ByHand) -> None:
        wait = step.params
        hand.run(hand.waits.get(wait.kind).kubectl(wait.params, wait.timeout))
