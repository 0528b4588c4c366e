"""`ca-bundle`: every caBundle an object carries (each webhook of a webhook configuration, a CRD's conversion
webhook, an APIService) against the CA a Secret holds: the API server trusts a webhook only through them."""

from __future__ import annotations

import base64
from typing import Any

from orchestrator.checks.base import Observation, say
from orchestrator.errors import RuntimeFailure
from orchestrator.spec.model import Check

NAME = {"type": "string", "minLength": 1, "maxLength": 253}


def ca_bundles(node: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, caBundle) of every caBundle in an object, where it sits (`webhooks[2].clientConfig.caBundle`)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else key
            if key == "caBundle" and isinstance(value, (str, type(None))):
                found.append((where, value or ""))
            else:
                found += ca_bundles(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += ca_bundles(value, f"{path}[{i}]")
    return found


def _label(obj: dict, path: str) -> str:
    """A webhook's own name where it has one: webhooks[2] of a configuration reads better as its name."""
    if path.startswith("webhooks["):
        index = int(path[len("webhooks["):path.index("]")])
        return (obj.get("webhooks") or [{}])[index].get("name", path)
    return path


class CaBundleCheck:
    name = "ca-bundle"
    runs_in_pod = False
    required = ("objects", "secret", "expect")
    params = {
        "objects": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "name"],
            "properties": {"apiVersion": NAME, "kind": NAME, "name": NAME, "namespace": NAME}}},
        "secret": {"type": "object", "additionalProperties": False, "required": ["namespace", "name"],
                   "properties": {"namespace": NAME, "name": NAME, "key": NAME}},
    }
    expect = {"matchSecret": {"type": "boolean"}}  # true: every caBundle is the Secret's CA; false: at least one is not

    def problems(self, params: dict, expect: dict) -> list[tuple[str, str]]:
        return [] if "matchSecret" in expect else [("expect.matchSecret", "say whether every caBundle equals the Secret's CA (true or false)")]

    def side_by_side(self, check: Check) -> bool:
        return True  # it reads a webhook configuration

    def is_refusal(self, expect: dict) -> bool:
        return False  # a mismatch is the broken state a lab shows, but it may take a moment to appear too

    def summary(self, seen: dict) -> str:
        return f"{seen.get('matching', 0)}/{seen.get('bundles', 0)} caBundles match {seen.get('ca', '')}"

    def expectations(self, expect: dict) -> list[str]:
        return say(expect, {"matchSecret": lambda v: ("every caBundle equals the Secret's CA" if v else "some caBundle is not the Secret's CA")})

    def commands(self, check: Check) -> list:
        s = check.params["secret"]
        key = s.get("key", "ca.crt").replace(".", "\\.")
        lines: list = [f"kubectl -n {s['namespace']} get secret {s['name']} -o jsonpath='{{.data.{key}}}'; echo"]
        for o in check.params["objects"]:
            jsonpath = "{range .webhooks[*]}{.name}{\"\\t\"}{.clientConfig.caBundle}{\"\\n\"}{end}" if "Webhook" in o["kind"] \
                else "{.spec.conversion.webhook.clientConfig.caBundle}{\"\\n\"}"
            lines.append(["kubectl", "get", o["kind"].lower(), o["name"], "-o", f"jsonpath={jsonpath}"])
        return lines

    def attempt(self, check: Check, runtime, timeout: float, since: float) -> Observation:
        s = check.params["secret"]
        key = s.get("key", "ca.crt")
        try:
            (ca,) = runtime.kube.secret_values(s["namespace"], s["name"], key)
        except RuntimeFailure as exc:
            return Observation({}, [exc.message], output=exc.message)
        ca = ca.strip()
        seen: dict[str, Any] = {"ca": f"{s['name']}/{key}", "bundles": 0, "matching": 0, "different": []}
        lines = []
        for ref in check.params["objects"]:
            obj = runtime.kube.get(ref["apiVersion"], ref["kind"], ref["name"], ref.get("namespace"))
            bundles = ca_bundles(obj.get("webhooks") and {"webhooks": obj["webhooks"]} or obj.get("spec") or {})
            if not bundles:
                seen["different"].append(f"{ref['kind']} {ref['name']}: no caBundle")
            for path, bundle in bundles:
                seen["bundles"] += 1
                same = base64.b64decode(bundle or b"").strip() == ca
                seen["matching"] += same
                where = f"{ref['kind']} {ref['name']} {_label(obj, path)}"
                lines.append(f"{where}: {'the Secret' + chr(39) + 's CA' if same else ('empty' if not bundle else 'another CA')}")
                if not same:
                    seen["different"].append(where + (" (empty)" if not bundle else ""))
        all_match = not seen["different"]
        problems = []
        if all_match != check.expect["matchSecret"]:
            problems.append(f"{len(seen['different'])} caBundle(s) differ from {seen['ca']}: {', '.join(seen['different'])[:300]}" if not all_match
                            else f"all {seen['bundles']} caBundles equal {seen['ca']}, expected some to differ")
        return Observation(seen, problems, output="\n".join(lines))
