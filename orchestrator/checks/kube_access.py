"""`kube-access`: what a user made by a `user` step may do, asked the two ways kubectl asks: `auth can-i` (a
SelfSubjectAccessReview) and a real request (writes as server-side dry runs), with the user's own kubeconfig."""

from __future__ import annotations

from typing import Any

from orchestrator.checks.base import Observation, brief, say
from orchestrator.spec.model import Check

VERBS = {"get": "GET", "list": "GET", "delete": "DELETE", "deletecollection": "DELETE"}
NAME = {"type": "string", "pattern": "^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$"}


def request_path(params: dict) -> str:
    group, version = params.get("group", ""), params.get("version", "v1")
    path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    if params.get("namespace"):
        path += f"/namespaces/{params['namespace']}"
    path += f"/{params['resource']}"
    return path + (f"/{params['name']}" if params.get("name") else "")


class KubeAccessCheck:
    name = "kube-access"
    runs_in_pod = False  # it talks to the API server as the user, from here
    required = ("user", "verb", "resource", "expect")
    params = {
        "user": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"},
        "verb": {"enum": sorted(VERBS)},
        "resource": {"type": "string", "pattern": "^[a-z][a-z0-9]*$"},  # plural, no subresource
        "group": {"type": "string", "maxLength": 253},
        "version": {"type": "string", "pattern": "^v[0-9]+((alpha|beta)[0-9]+)?$"},
        "namespace": NAME,
        "name": NAME,
    }
    expect = {
        "allowed": {"type": "boolean"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "message": {"type": "string", "minLength": 1},
    }

    def problems(self, params: dict, expect: dict) -> list[tuple[str, str]]:
        found = []
        if not expect:
            found.append(("expect", "say what to expect (allowed, status, message)"))
        if params.get("verb") in ("get", "delete") and not params.get("name"):
            found.append(("name", f"a {params['verb']} request names one object"))
        return found

    def side_by_side(self, check: Check) -> bool:
        return True  # a GET, or a DELETE the server only dry-runs

    def is_refusal(self, expect: dict) -> bool:
        return expect.get("allowed") is False or expect.get("status") in (401, 403)

    def summary(self, seen: dict) -> str:
        return brief(seen, ("allowed", "status"))

    def expectations(self, expect: dict) -> list[str]:
        return say(expect, {"allowed": lambda v: "`kubectl auth can-i` says " + ("yes" if v else "no"),
                            "status": "the request is answered with HTTP {}", "message": 'the API server\'s message contains "{}"'})

    def commands(self, check: Check) -> list[list[str]]:
        p = check.params
        config = ["kubectl", "--kubeconfig", f"$LAB_USERS/{p['user']}.kubeconfig"]  # where `lab env` says
        where = ["-n", p["namespace"]] if p.get("namespace") else []
        resource = p["resource"] + (f".{p['group']}" if p.get("group") else "")
        verb = "delete" if p["verb"] in ("delete", "deletecollection") else "get"
        target = [resource, p["name"]] if p.get("name") else [resource] + (["--all"] if verb == "delete" else [])
        return [config + ["auth", "can-i", p["verb"], resource] + where,
                config + [verb, *target] + where + (["--dry-run=server"] if verb == "delete" else [])]

    def attempt(self, check: Check, runtime, timeout: float, since: float) -> Observation:
        from orchestrator.kube.users import user_kubeconfig
        from orchestrator.providers.kube import KubeApi

        p = check.params
        api = KubeApi(user_kubeconfig(runtime.instance.state_dir, p["user"]))
        review_status, allowed, reason = api.can_i(p["verb"], p["resource"], p.get("namespace"), p.get("group", ""), p.get("name"))
        query = [("dryRun", "All")] if VERBS[p["verb"]] == "DELETE" else []
        status, body = api.call(VERBS[p["verb"]], request_path(p), query=query)
        message = str((body or {}).get("message", "")) if status >= 400 else ""
        seen: dict[str, Any] = {"status": status}
        if review_status < 300:
            seen["allowed"] = allowed
        if message:
            seen["message"] = message[:300]
        expect, problems = check.expect, []
        if "allowed" in expect and seen.get("allowed") != expect["allowed"]:
            said = "no answer (HTTP %d)" % review_status if "allowed" not in seen else ("yes" if allowed else "no")
            problems.append(f"can-i {p['verb']} {p['resource']}: {said}, expected {'yes' if expect['allowed'] else 'no'}")
        if "status" in expect and status != expect["status"]:
            problems.append(f"HTTP {status}, expected {expect['status']}" + (f": {message[:200]}" if message else ""))
        if "message" in expect and expect["message"] not in message:
            problems.append(f"message {message[:200]!r} does not contain {expect['message']!r}")
        output = f"can-i {p['verb']} {p['resource']}: HTTP {review_status}, allowed={allowed} {reason}\n{VERBS[p['verb']]} {request_path(p)}: HTTP {status} {message}"
        return Observation(seen, problems, output=output)
