"""The check kinds. http and tls run curl/openssl in the lab's client; hubble asks the runtime for flows."""

from __future__ import annotations

import json
import re
from typing import Any

from orchestrator.checks.base import Observation
from orchestrator.spec import Check

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
        return argv + [p["url"]]

    def attempt(self, check: Check, runtime, timeout: float) -> Observation:
        argv = self.argv(check, timeout)
        code, out, err = runtime.exec_client(argv)
        body, _, status = out.rpartition(STATUS_MARK) if STATUS_MARK in out else (out, "", "")
        seen: dict[str, Any] = {"exitCode": code}
        if status.strip().isdigit() and int(status) != 0:
            seen["status"] = int(status)
        if err.strip():
            seen["error"] = err.strip().splitlines()[-1]
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
        if "body" in expect and expect["body"] not in body:
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


_SUBJECT = re.compile(r"^\s*0 s:(.*)$", re.M)
_ISSUER = re.compile(r"^\s*i:(.*)$", re.M)
_VERIFY = re.compile(r"Verify return code: (\d+) \(([^)]*)\)")
_ALERT = re.compile(r"alert ([a-z ]+?)(?:[:,]|$)", re.M)


def _cn(dn: str) -> str:
    match = re.search(r"CN\s*=\s*([^,/]+)", dn)
    return match.group(1).strip() if match else ""


class TlsCheck:
    name = "tls"

    def argv(self, check: Check) -> list[str]:
        p = check.params
        argv = ["openssl", "s_client", "-connect", f"{p['host']}:{p['port']}"]
        if p.get("servername"):
            argv += ["-servername", p["servername"], "-verify_hostname", p["servername"]]
        if p.get("cacert"):
            argv += ["-CAfile", p["cacert"]]
        if p.get("cert"):
            argv += ["-cert", p["cert"], "-key", p["key"]]
        return argv

    def attempt(self, check: Check, runtime, timeout: float) -> Observation:
        # Send an empty request so the TLS 1.3 server's verdict on our certificate arrives before we leave.
        openssl = self.argv(check)
        argv = ["sh", "-c", 'printf "HEAD / HTTP/1.0\\r\\n\\r\\n" | timeout %d "$@"' % max(1, int(timeout)), "tls", *openssl]
        code, out, err = runtime.exec_client(argv)
        text = out + "\n" + err
        seen: dict[str, Any] = {"exitCode": code}
        subject, issuer, verify = _SUBJECT.search(text), _ISSUER.search(text), _VERIFY.search(text)
        if subject:
            seen["subjectCN"] = _cn(subject.group(1))
        if issuer:
            seen["issuerCN"] = _cn(issuer.group(1))
        if verify:
            seen["verified"] = verify.group(1) == "0"
            seen["verify"] = verify.group(2)
        alert = _ALERT.search(err)
        if alert:
            seen["alert"] = alert.group(1).strip()
        problems = []
        expect = check.expect
        if "verified" in expect and seen.get("verified") != expect["verified"]:
            problems.append(f"verification {seen.get('verify', 'did not happen')}, expected {'ok' if expect['verified'] else 'a failure'}")
        for key in ("subjectCN", "issuerCN"):
            if key in expect and seen.get(key) != expect[key]:
                problems.append(f"{key} is {seen.get(key)!r}, expected {expect[key]!r}")
        if "alert" in expect and expect["alert"].lower() not in seen.get("alert", "").lower():
            problems.append(f"alert {seen.get('alert', 'none')!r}, expected {expect['alert']!r}")
        if "alert" not in expect and seen.get("alert"):
            problems.append(f"unexpected TLS alert {seen['alert']!r}")
        return Observation(seen, problems, output=f"$ {' '.join(openssl)}\n{text}".strip())


class HubbleCheck:
    name = "hubble"

    def attempt(self, check: Check, runtime, timeout: float) -> Observation:
        flows = runtime.flows(check.params)
        seen = {"flows": flows.count, "source": flows.source}
        if flows.verdicts:
            seen["verdicts"] = sorted(set(flows.verdicts))
        problems = []
        wanted = check.expect.get("flows", 1)
        if flows.count < wanted:
            kind = f"{check.params['flowType']} " if check.params.get("flowType") else ""
            problems.append(f"{flows.count} {kind}flow(s) seen, expected at least {wanted}")
        if "verdict" in check.expect and check.expect["verdict"] not in flows.verdicts:
            problems.append(f"no flow with verdict {check.expect['verdict']}")
        return Observation(seen, problems, output=flows.output)


class CheckRegistry:
    """Check kinds by name; explicit, built by `default_registry()`, never an import-time global."""

    def __init__(self):
        self._kinds: dict[str, Any] = {}

    def register(self, kind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"check kind {kind.name} registered twice")
        self._kinds[kind.name] = kind

    def get(self, name: str):
        if name not in self._kinds:
            raise KeyError(f"unknown check kind {name} (known: {', '.join(sorted(self._kinds))})")
        return self._kinds[name]


def default_registry() -> CheckRegistry:
    registry = CheckRegistry()
    for kind in (HttpCheck(), TlsCheck(), HubbleCheck()):
        registry.register(kind)
    return registry
