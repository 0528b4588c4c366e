"""`tls`: an `openssl s_client` handshake from a pod of the lab; verification, alert, subject and issuer CN."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.checks.base import Observation, brief, say
from orchestrator.errors import PermanentFailure
from orchestrator.spec.model import Check

_SUBJECT = re.compile(r"^\s*0 s:(.*)$", re.M)
_ISSUER = re.compile(r"^\s*i:(.*)$", re.M)
_VERIFY = re.compile(r"Verify return code: (\d+) \(([^)]*)\)")
_ALERT = re.compile(r"alert ([a-z ]+?)(?:[:,]|$)", re.M)


def _cn(dn: str) -> str:
    match = re.search(r"CN\s*=\s*([^,/]+)", dn)
    return match.group(1).strip() if match else ""


class TlsCheck:
    name = "tls"
    runs_in_pod = True
    required = ("host", "port", "expect")
    params = {
        "host": {"type": "string", "minLength": 1, "maxLength": 253},
        "port": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": 65535},
        "servername": {"type": "string", "minLength": 1, "maxLength": 253},
        "cert": {"type": "string", "minLength": 1},
        "key": {"type": "string", "minLength": 1},
        "cacert": {"type": "string", "minLength": 1},
    }
    expect = {
        "verified": {"type": "boolean"},
        "alert": {"type": "string", "minLength": 1},
        "issuerCN": {"type": "string"},
        "subjectCN": {"type": "string"},
    }

    def problems(self, params: dict, expect: dict) -> list[tuple[str, str]]:
        found = []
        if params.get("cert") and not params.get("key"):
            found.append(("key", "required when cert is set"))
        port = params.get("port")
        if isinstance(port, str) and port.isdigit() and not 1 <= int(port) <= 65535:
            found.append(("port", f"{port} is not a TCP port (1-65535)"))
        if not expect:
            found.append(("expect", "say what to expect (verified, alert, issuerCN or subjectCN)"))
        return found

    def side_by_side(self, check: Check) -> bool:
        return True  # a handshake changes nothing

    def is_refusal(self, expect: dict) -> bool:
        return expect.get("verified") is False or "alert" in expect

    def summary(self, seen: dict) -> str:
        return brief(seen, ("verified", "alert", "subjectCN", "issuerCN"))

    def expectations(self, expect: dict) -> list[str]:
        return say(expect, {
            "verified": lambda v: "the server's certificate verifies against the CA file" if v else "the server's certificate does not verify",
            "alert": 'the handshake ends with the TLS alert "{}"',
            "subjectCN": "the server certificate's subject CN is {}",
            "issuerCN": "its issuer CN is {}",
        })

    def argv(self, check: Check) -> list[str]:
        p = check.params
        argv = ["openssl", "s_client", "-connect", f"{p['host']}:{p['port']}"]
        if p.get("servername"):
            argv += ["-servername", p["servername"], "-verify_hostname", p["servername"]]
        if p.get("cacert"):
            argv += ["-CAfile", p["cacert"]]
        if p.get("cert"):
            # -cert alone sends only the file's first certificate; -cert_chain sends the rest (the intermediate),
            # as curl --cert does: a server trusting only the root needs it.
            argv += ["-cert", p["cert"], "-cert_chain", p["cert"], "-key", p["key"]]
        return argv

    def commands(self, check: Check) -> list[list[str] | str]:
        import shlex

        # A request on stdin, as the check sends: s_client ends after it instead of waiting for the keyboard.
        return ['printf "HEAD / HTTP/1.0\\r\\n\\r\\n" | ' + shlex.join(self.argv(check))]

    def attempt(self, check: Check, runtime, timeout: float, since: float) -> Observation:
        # Send an empty request so the TLS 1.3 server's verdict on our certificate arrives before we leave.
        openssl = self.argv(check)
        argv = ["sh", "-c", 'printf "HEAD / HTTP/1.0\\r\\n\\r\\n" | timeout %d "$@"' % max(1, int(timeout)), "tls", *openssl]
        result = runtime.exec(check.source, argv)
        code, text, err = result.returncode, result.stdout + "\n" + result.stderr, result.stderr
        if code in (126, 127) and not (result.stdout + result.stderr).strip():
            # The runtime could not start the command at all: no amount of waiting puts openssl into the image.
            raise PermanentFailure("openssl cannot run in the pod (exit " + str(code) + "): its image has no openssl; choose another pod with from:")
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
        if not subject and not alert:
            problems.append(f"no TLS handshake (openssl exit {code}): {(err.strip().splitlines() or ['no output'])[-1][:300]}")
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
