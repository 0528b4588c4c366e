"""`patch: [{apiVersion, kind, name, namespace, ops}]`: JSON patches (RFC 6902) on objects the cluster holds; `*`
in a path is every element of the live object's array there (every webhook of a webhook configuration). A value
is literal, or from the lab's PKI or a Secret at run time. A new stage."""

from __future__ import annotations

from orchestrator.lifecycle.steps.base import ByHand, Plain, SpecView

VALUE_FROM = {
    "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 2,
    "properties": {
        "pki": {"type": "string", "minLength": 1},
        "secret": {"type": "object", "additionalProperties": False, "required": ["namespace", "name", "key"],
                   "properties": {"namespace": {"$ref": "#/$defs/namespace"}, "name": {"type": "string", "minLength": 1, "maxLength": 253},
                                  "key": {"type": "string", "minLength": 1}}},
        "encoding": {"enum": ["base64", "text"]},  # base64 (a caBundle's form) unless text
    },
    "oneOf": [{"required": ["pki"]}, {"required": ["secret"]}],
}
OP = {
    "type": "object", "additionalProperties": False, "required": ["op", "path"],
    "properties": {"op": {"enum": ["add", "replace", "remove", "test"]}, "path": {"type": "string", "pattern": "^(/[^/]*)+$"},
                   "value": {}, "valueFrom": VALUE_FROM},
    "allOf": [{"if": {"properties": {"op": {"enum": ["add", "replace", "test"]}}}, "then": {"oneOf": [{"required": ["value"]}, {"required": ["valueFrom"]}]}},
              {"if": {"properties": {"op": {"const": "remove"}}}, "then": {"not": {"anyOf": [{"required": ["value"]}, {"required": ["valueFrom"]}]}}}],
}


class PatchStep(Plain):
    name = "patch"
    verb = "patch"
    schema = {
        "type": "array", "minItems": 1,
        "items": {"type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "name", "ops"],
                  "properties": {"apiVersion": {"type": "string", "minLength": 1}, "kind": {"type": "string", "minLength": 1},
                                 "name": {"type": "string", "minLength": 1, "maxLength": 253}, "namespace": {"$ref": "#/$defs/namespace"},
                                 "ops": {"type": "array", "minItems": 1, "items": OP}}},
    }

    def problems(self, value, spec: SpecView) -> list[tuple[str, str]]:
        if spec.cert_names is None:
            return []
        return [(f".{t}.ops.{o}.valueFrom.pki", f"'{op['valueFrom']['pki']}' is not a file the lab's PKI issues")
                for t, target in enumerate(value) for o, op in enumerate(target["ops"])
                if "pki" in (op.get("valueFrom") or {}) and not spec.is_pki_file(op["valueFrom"]["pki"])]

    def run(self, step, run) -> None:
        from orchestrator.kube import edits
        from orchestrator.pki.store import PkiStore

        edits.patch(run.runtime.kube, PkiStore(run.ctx.pki_dir(run.lab)).read, step.params)

    def describe(self, step, lab) -> tuple[dict, str]:
        return step.params, "; ".join(f"JSON patch {t['kind']} {t['name']}: " + ", ".join(f"{o['op']} {o['path']}" for o in t["ops"])
                                      for t in step.params)

    def by_hand(self, step, hand: ByHand) -> None:
        from orchestrator.kube.edits import patch_by_hand

        hand.commands += patch_by_hand(step.params, hand.rendered.docs())
