"""`user: {name, via, ...}`: a Kubernetes user made from a certificate (the CSR API, the cluster CA's key, or a CA
the cluster does not trust), with a kubeconfig of its own. A new stage."""

from __future__ import annotations

from orchestrator.lifecycle.steps.base import ByHand, Plain, SpecView
from orchestrator.spec.model import UserSpec

NAME = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class UserStep(Plain):
    name = "user"
    verb = "user"
    schema = {
        "type": "object", "additionalProperties": False, "required": ["name", "via"],
        "properties": {
            "name": {"type": "string", "pattern": NAME},
            "cn": {"type": "string", "minLength": 1, "maxLength": 64},  # the certificate's CN (default: name)
            "groups": {"type": "array", "maxItems": 8, "items": {"type": "string", "minLength": 1, "maxLength": 64}},
            "via": {"enum": ["csr", "cluster-ca", "untrusted-ca"]},
            "expirationSeconds": {"type": "integer", "minimum": 600, "maximum": 31536000},  # csr: what the CSR asks for
            "days": {"type": "integer", "minimum": 1, "maximum": 3650},  # cluster-ca, untrusted-ca
            "namespace": {"type": "string", "pattern": NAME},  # the context's namespace
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
        },
    }

    def problems(self, value, spec: SpecView) -> list[tuple[str, str]]:
        found = [(".name", f"user '{value['name']}' is made by an earlier step")] if value["name"] in spec.users else []
        spec.users.add(value["name"])
        return found

    def build(self, value, step_name: str, registries) -> UserSpec:
        return UserSpec(name=value["name"], via=value["via"], cn=value.get("cn", value["name"]), groups=tuple(value.get("groups", ())),
                        expiration_seconds=int(value.get("expirationSeconds", 86400)), days=int(value.get("days", 365)),
                        namespace=value.get("namespace"), timeout=float(value.get("timeout", 60)))

    def run(self, step, run) -> None:
        from orchestrator.kube.users import make_user

        make_user(run.runtime, step.params, run.lab.owner_labels())

    def describe(self, step, lab) -> tuple[dict, str]:
        user = step.params
        data = {"name": user.name, "cn": user.cn, "groups": list(user.groups), "via": user.via,
                **({"expirationSeconds": user.expiration_seconds} if user.via == "csr" else {"days": user.days})}
        return data, f"user {user.name} (CN={user.cn}" + "".join(f", O={g}" for g in user.groups) + f") signed via {user.via}"

    def by_hand(self, step, hand: ByHand) -> None:
        from orchestrator.kube.users import by_hand

        hand.commands += by_hand(step.params, hand.lab.owner_labels(), hand.runtime, f"{hand.lab.instance}-control-plane")
