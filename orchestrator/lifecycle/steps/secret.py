"""`secret: {namespace, name, set | issue}`: replace keys of an existing Secret (the others stay), with files of
the lab's PKI (set), or with a server certificate and key issued from the CA the Secret itself holds (issue;
ca.crt/ca.key unless `ca` says). A new stage."""

from __future__ import annotations

from orchestrator.lifecycle.steps.base import ByHand, Plain, SpecView

ALGORITHMS = ["ecdsa-p256", "rsa-2048", "rsa-3072"]


class SecretStep(Plain):
    name = "secret"
    verb = "update secret of"
    schema = {
        "type": "object", "additionalProperties": False, "required": ["namespace", "name"], "minProperties": 3,
        "properties": {
            "namespace": {"$ref": "#/$defs/namespace"},
            "name": {"type": "string", "minLength": 1, "maxLength": 253},
            "set": {"type": "object", "minProperties": 1,
                    "additionalProperties": {"type": "object", "additionalProperties": False, "required": ["pki"],
                                             "properties": {"pki": {"type": "string", "minLength": 1}}}},
            "issue": {
                "type": "object", "additionalProperties": False, "required": ["cn"],
                "properties": {
                    "cn": {"type": "string", "minLength": 1, "maxLength": 64},
                    "dns": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 253}},
                    "ip": {"type": "array", "items": {"type": "string"}},
                    "days": {"type": "integer", "minimum": 1, "maximum": 3650},
                    "algorithm": {"enum": ALGORITHMS},
                    "subject": {"$ref": "#/$defs/subject"},
                    "ca": {"type": "object", "additionalProperties": False, "required": ["cert", "key"],
                           "properties": {"cert": {"type": "string", "minLength": 1}, "key": {"type": "string", "minLength": 1}}},
                    "certKey": {"type": "string", "minLength": 1},
                    "keyKey": {"type": "string", "minLength": 1},
                },
            },
        },
    }

    def problems(self, value, spec: SpecView) -> list[tuple[str, str]]:
        if spec.cert_names is None:
            return []
        return [(f".set.{key}.pki", f"'{source['pki']}' is not a file the lab's PKI issues")
                for key, source in (value.get("set") or {}).items() if not spec.is_pki_file(source["pki"])]

    def run(self, step, run) -> None:
        from orchestrator.kube import edits
        from orchestrator.pki.store import PkiStore

        edits.update_secret(run.runtime.kube, PkiStore(run.ctx.pki_dir(run.lab)).read, step.params)

    def describe(self, step, lab) -> tuple[dict, str]:
        sec = step.params
        parts = [f"{k} from the PKI's {v['pki']}" for k, v in (sec.get("set") or {}).items()]
        if sec.get("issue"):
            parts.append(f"a certificate for {', '.join(sec['issue'].get('dns', []) or [sec['issue']['cn']])} issued by the Secret's own CA")
        return sec, f"Secret {sec['namespace']}/{sec['name']}: " + ", ".join(parts)

    def by_hand(self, step, hand: ByHand) -> None:
        from orchestrator.kube.edits import secret_by_hand

        hand.commands += secret_by_hand(step.params)
