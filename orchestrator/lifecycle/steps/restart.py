"""`restart: {kind, namespace, name}`: `kubectl rollout restart`, then wait for the rollout as `kubectl rollout
status` does. A new stage."""

from __future__ import annotations

from orchestrator.lifecycle.steps.base import ByHand, Plain


class RestartStep(Plain):
    name = "restart"
    verb = "restart"
    schema = {
        "type": "object", "additionalProperties": False, "required": ["kind", "namespace", "name"],
        "properties": {"kind": {"enum": ["Deployment", "DaemonSet", "StatefulSet"]}, "namespace": {"$ref": "#/$defs/namespace"},
                       "name": {"type": "string", "minLength": 1, "maxLength": 253},
                       "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}},
    }

    def run(self, step, run) -> None:
        from orchestrator.kube import edits

        edits.restart(run.runtime.kube, step.params)

    def describe(self, step, lab) -> tuple[dict, str]:
        r = step.params
        return r, f"rollout restart {r['kind']} {r['namespace']}/{r['name']}, and wait for it"

    def by_hand(self, step, hand: ByHand) -> None:
        from orchestrator.kube.edits import restart_by_hand

        hand.commands += restart_by_hand(step.params)
