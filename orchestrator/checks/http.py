"""`http`: curl from a pod of the lab; status, curl exit code, error text, body and JSON fields."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.checks.base import Observation, brief, say
from orchestrator.errors import PermanentFailure
from orchestrator.spec.model import Check

STATUS_MARK = "\n__lab_http_status__:"


def json_lookup(data: Any, path: str) -> Any:
    """`headers.x-ssl-client-cn` → data['headers'][key matching case-insensitively] (haproxy lowercases names)."""
    node = data
    for part in path.split("."):
        if isinstance(node, dict):
            matches = [k for k in node if k.lower() == part.lower()]
            if not matches:
                raise KeyError(path)
            node = node[matches[0]]
        elif isinstance(node, list) and part.isdigit():
            node = node[int(part)]
        else:
            raise KeyError(path)
    return node


class HttpCheck:
    name = "http"
    runs_in_pod = True
    required = ("url", "expect")
    params = {
        "url": {"type": "string", "pattern": "^https?://[^\\s]+$", "maxLength": 2048},
        "method": {"enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]},
        "cert": {"type": "string", "minLength": 1},
        "key": {"type": "string", "minLength": 1},
        "cacert": {"type": "string", "minLength": 1},
        "insecure": {"type": "boolean"},
        "resolve": {"type": "string"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "data": {"type": "string"},
    }
    expect = {
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "exitCode": {"type": "integer", "minimum": 0, "maximum": 255},
        "error": {"type": "string", "minLength": 1},
        "json": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "body": {"type": "string"},
    }

    def side_by_side(self, check: Check) -> bool:
        return check.params.get("method", "GET") in ("GET", "HEAD")  # a POST or PUT may change what the next one sees

    def problems(self, params: dict, expect: dict) -> list[tuple[str, str]]:
        found = []
        if params.get("cert") and not params.get("key"):
            found.append(("key", "required when cert is set"))
        if not expect:
            found.append(("expect", "say what to expect (status, exitCode, error, json or body)"))
        return found

    def is_refusal(self, expect: dict) -> bool:
        return "error" in expect or expect.get("exitCode", 0) != 0

    def summary(self, seen: dict) -> str:
        parts = [brief(seen, ("status",)) or brief(seen, ("exitCode",)), brief(seen, ("error",))]
        parts += [f"{path}={value}" for path, value in seen.get("json", {}).items()]
        return ", ".join(p for p in parts if p)

    def expectations(self, expect: dict) -> list[str]:
        said = say(expect, {"status": "HTTP status {}", "exitCode": "curl exits with {}", "error": 'curl\'s error contains "{}"',
                            "body": 'the response body contains "{}"'})
        return said + [f"the JSON response has {path} = {value}" for path, value in expect.get("json", {}).items()]

    def argv(self, check: Check, timeout: float) -> list[str]:
        p = check.params
        argv = ["curl", "-sS", "--max-time", str(max(1, int(timeout))), "-X", p.get("method", "GET"),
                "-w", STATUS_MARK + "%{http_code}"]
        if p.get("cert"):
            argv += ["--cert", p["cert"], "--key", p["key"]]
        if p.get("cacert"):
            argv += ["--cacert", p["cacert"]]
        if p.get("insecure"):
            argv.append("--insecure")
        if p.get("resolve"):
            argv += ["--resolve", p["resolve"]]
        for name, value in sorted(p.get("headers", {}).items()):
            argv += ["-H", f"{name}: {value}"]
        if "data" in p:
            argv += ["--data-raw", p["data"]]
        return argv + [p["url"]]

    def commands(self, check: Check) -> list[list[str]]:
        argv = self.argv(check, check.timeout)
        mark = argv.index("-w")
        return [argv[:mark] + argv[mark + 2:]]  # the status marker is the tool's own plumbing

    def attempt(self, check: Check, runtime, timeout: float, since: float) -> Observation:
        argv = self.argv(check, timeout)
        result = runtime.exec(check.source, argv)
        code, out, err = result.returncode, result.stdout, result.stderr
        if code in (126, 127) and not (result.stdout + result.stderr).strip():
            # The runtime could not start the command at all: no amount of waiting puts curl into the image.
            raise PermanentFailure("curl cannot run in the pod (exit " + str(code) + "): its image has no curl; choose another pod with from:")
        body, _, status = out.rpartition(STATUS_MARK) if STATUS_MARK in out else (out, "", "")
        seen: dict[str, Any] = {"exitCode": code}
        if status.strip().isdigit() and int(status) != 0:
            seen["status"] = int(status)
        if err.strip():
            seen["error"] = err.strip().splitlines()[-1][:500]
        expect = check.expect
        problems = []
        if "exitCode" in expect and code != expect["exitCode"]:
            problems.append(f"curl exit code {code}, expected {expect['exitCode']}")
        elif "exitCode" not in expect and code != 0:
            problems.append(f"curl failed (exit {code}): {seen.get('error', '')}")
        if "status" in expect and seen.get("status") != expect["status"]:
            problems.append(f"HTTP status {seen.get('status', 'none')}, expected {expect['status']}")
        if "error" in expect and expect["error"].lower() not in err.lower():
            problems.append(f"error {seen.get('error', 'none')!r} does not contain {expect['error']!r}")
        if "body" in expect:
            seen["body"] = body.strip()[:200]
            if expect["body"] not in body:
                problems.append(f"body does not contain {expect['body']!r}")
        if "json" in expect:
            try:
                document = json.loads(body)
            except ValueError:
                document = None
                problems.append("response body is not JSON")
            if document is not None:
                seen["json"] = {}
                for path, wanted in expect["json"].items():
                    try:
                        value = json_lookup(document, path)
                    except (KeyError, IndexError):
                        problems.append(f"{path} is missing from the response")
                        continue
                    seen["json"][path] = value
                    if str(value) != str(wanted):
                        problems.append(f"{path} is {value!r}, expected {wanted!r}")
        return Observation(seen, problems, output=f"$ {' '.join(argv)}\n{out}\n{err}".strip())
