"""`admission`: does the API server admit these objects now? A server-side dry-run apply of a manifest group
(`kubectl apply --server-side --dry-run=server`) runs validation and every admission webhook without storing
anything, so a webhook whose TLS is broken shows here as the API server reports it."""

from __future__ import annotations

from orchestrator.checks.base import Observation, brief, say
from orchestrator.spec.model import Check


class AdmissionCheck:
    name = "admission"
    runs_in_pod = False
    required = ("group", "expect")
    params = {"group": {"type": "string", "minLength": 1}}  # a manifest group of the lab (not necessarily applied)
    expect = {
        "admitted": {"type": "boolean"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "message": {"type": "string", "minLength": 1},
    }

    def problems(self, params: dict, expect: dict) -> list[tuple[str, str]]:
        found = [] if "admitted" in expect else [("expect.admitted", "say whether the objects are admitted (true or false)")]
        if expect.get("admitted") and ("message" in expect or "status" in expect):
            found.append(("expect", "message and status describe a refusal; an admitted object has neither"))
        return found

    def side_by_side(self, check: Check) -> bool:
        return True  # a dry run: the server stores nothing

    def is_refusal(self, expect: dict) -> bool:
        return expect.get("admitted") is False

    def summary(self, seen: dict) -> str:
        return brief(seen, ("admitted", "status", "message"))

    def expectations(self, expect: dict) -> list[str]:
        return say(expect, {"admitted": lambda v: "the API server admits every object (dry run)" if v else "the API server refuses the object",
                            "status": "with HTTP {}", "message": 'its message contains "{}"'})

    def commands(self, check: Check) -> list[list[str]]:
        return [["kubectl", "apply", "--server-side", "--dry-run=server", "-f", f"$LAB_RENDERED/manifests/{check.params['group']}/"]]

    def attempt(self, check: Check, runtime, timeout: float, since: float) -> Observation:
        docs = runtime.instance.rendered_set().docs(check.params["group"])
        seen: dict = {"admitted": True, "objects": len(docs)}
        lines = []
        for doc in docs:
            admitted, status, message = runtime.kube.admission(doc)
            meta = doc["metadata"]
            lines.append(f"{doc['kind']} {meta.get('namespace', '') + '/' if meta.get('namespace') else ''}{meta['name']}: "
                         + ("admitted (dry run)" if admitted else f"refused ({status}): {message}"))
            if not admitted and seen["admitted"]:
                seen.update(admitted=False, status=status, message=message[:1000])
        expect, problems = check.expect, []
        if seen["admitted"] != expect["admitted"]:
            problems.append("admitted (dry run)" if seen["admitted"] else f"refused ({seen['status']}): {seen['message'][:600]}")
            if not expect["admitted"]:
                problems[-1] += ", expected a refusal"
        elif not seen["admitted"]:
            if "status" in expect and seen["status"] != expect["status"]:
                problems.append(f"refused with HTTP {seen['status']}, expected {expect['status']}")
            if "message" in expect and expect["message"] not in seen["message"]:
                problems.append(f"refused with {seen['message'][:600]!r}, which does not contain {expect['message']!r}")
        return Observation(seen, problems, output="\n".join(lines))
