"""`apply: GROUP`: the rendered manifests of one of the lab's manifest groups, by server-side apply. A new stage."""

from __future__ import annotations

from orchestrator.lifecycle.steps.base import ByHand, Plain, SpecView


class ApplyStep(Plain):
    name = "apply"
    verb = "apply"
    schema = {"type": "string"}

    def problems(self, value, spec: SpecView) -> list[tuple[str, str]]:
        if value not in spec.manifests:
            return [("", f"unknown manifest group '{value}' (known: {', '.join(sorted(spec.manifests)) or 'none'})")]
        return []

    def run(self, step, run) -> None:
        group = step.params
        run.runtime.apply(group, run.lab.applied_docs(group, run.rendered.docs(group), run.runtime.name))

    def describe(self, step, lab) -> tuple[dict, str]:
        group = step.params
        data = {"group": group, "templates": [e if isinstance(e, str) else f"{e.artifact} ({lab.artifacts[e.artifact].url})"
                                              for e in lab.manifests[group]]}
        omitted = [{"kind": o.kind, "name": o.name, "runtimes": list(o.runtimes), "why": o.why} for g, o in lab.omissions() if g == group]
        if omitted:
            data["omitted"] = omitted
        text = f"apply {group}: {', '.join(data['templates'])}"
        text += "".join(f"; without {o['kind']} {o['name']} on {', '.join(o['runtimes'])}: {o['why']}" for o in omitted)
        return data, text

    def by_hand(self, step, hand: ByHand) -> None:
        from orchestrator.spec.model import Omission

        left_out = [o for group, o in hand.lab.omissions(hand.runtime) if group == step.params]
        for o in left_out:
            hand.note(f"the {hand.runtime} runtime leaves out {o.kind} {o.name}: {' '.join(o.why.split())}")
        only = ["-l", f"{Omission.label(hand.runtime)}!=true"] if left_out else []
        for rel in hand.rendered.manifests.get(step.params, []):
            hand.run(["kubectl", "apply", "--server-side", "--field-manager=lab", "-f", hand.rendered_path(rel), *only])
            for doc in hand.rendered.docs_of(rel):
                meta = doc["metadata"]
                where = f"{meta['namespace']}/" if meta.get("namespace") else ""
                hand.objects.append((f"{doc['kind']} {where}{meta['name']}", hand.rendered_path(rel)))
