"""`secret-cert`: the certificate a Secret holds (`tls.crt`), judged against the CA the same Secret holds
(`ca.crt`): issued by it, for the names asked, valid long enough. What the seed did
by hand with `openssl verify -CAfile ca.crt webhook.crt` and `openssl x509 -text`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509

from orchestrator.checks.base import Observation, brief, say
from orchestrator.errors import RuntimeFailure
from orchestrator.pki.inspect import load_pem_cert
from orchestrator.spec.model import Check

NAME = {"type": "string", "minLength": 1, "maxLength": 253}


class SecretCertCheck:
    name = "secret-cert"
    runs_in_pod = False
    required = ("namespace", "name", "expect")
    params = {"namespace": NAME, "name": NAME, "key": NAME, "caKey": NAME,
              "caSecret": NAME,  # the CA from another Secret (a CA issuer's), not the same one
              "caNamespace": NAME}  # where caSecret is (default: the certificate's namespace)
    expect = {
        "verified": {"type": "boolean"},  # issued by the CA the Secret holds (caKey, default ca.crt)
        "dns": {"type": "string", "minLength": 1},
        "issuerCN": {"type": "string", "minLength": 1},
        "minDaysLeft": {"type": "integer", "minimum": 0},
        "validityDays": {"type": "integer", "minimum": 1},  # notAfter - notBefore, in whole days (an issuer's duration)
    }

    def problems(self, params: dict, expect: dict) -> list[tuple[str, str]]:
        found = [] if expect else [("expect", "say what to expect (verified, dns, issuerCN, minDaysLeft, validityDays)")]
        if params.get("caNamespace") and not params.get("caSecret"):
            found.append(("caNamespace", "names where caSecret is; set caSecret too"))
        return found

    def side_by_side(self, check: Check) -> bool:
        return True  # it reads a Secret

    def is_refusal(self, expect: dict) -> bool:
        return expect.get("verified") is False

    def summary(self, seen: dict) -> str:
        return brief(seen, ("verified", "dns", "issuer", "daysLeft"))

    def expectations(self, expect: dict) -> list[str]:
        return say(expect, {"verified": lambda v: "the certificate is " + ("" if v else "not ") + "issued by the CA",
                            "dns": "it names {} (subjectAltName)", "issuerCN": "its issuer's CN is {}",
                            "minDaysLeft": "it is valid for at least {} more days", "validityDays": "it was issued for {} days"})

    def _ca_name(self, params: dict) -> str:
        where = f"{params['caNamespace']}/" if params.get("caNamespace") else ""
        return (f"{where}{params['caSecret']}/" if params.get("caSecret") else "") + params.get("caKey", "ca.crt")

    def commands(self, check: Check) -> list:
        p = check.params
        get = f"kubectl -n {p['namespace']} get secret {p['name']} -o jsonpath"
        key = p.get("key", "tls.crt").replace(".", "\\.")
        ca_key = p.get("caKey", "ca.crt").replace(".", "\\.")
        get_ca = f"kubectl -n {p.get('caNamespace', p['namespace'])} get secret {p.get('caSecret', p['name'])} -o jsonpath"
        return [f"{get}='{{.data.{key}}}' | base64 -d > cert.pem", f"{get_ca}='{{.data.{ca_key}}}' | base64 -d > ca.pem",
                ["openssl", "verify", "-CAfile", "ca.pem", "cert.pem"],
                        ["openssl", "x509", "-in", "cert.pem", "-noout", "-subject", "-issuer", "-enddate", "-ext", "subjectAltName"]]

    def attempt(self, check: Check, runtime, timeout: float, since: float) -> Observation:
        p = check.params
        where = f"Secret {p['namespace']}/{p['name']}"
        key, ca_key = p.get("key", "tls.crt"), p.get("caKey", "ca.crt")
        try:
            if p.get("caSecret"):
                (cert_pem,), (ca_pem,) = (runtime.kube.secret_values(p["namespace"], p["name"], key),
                                          runtime.kube.secret_values(p.get("caNamespace", p["namespace"]), p["caSecret"], ca_key))
            else:
                cert_pem, ca_pem = runtime.kube.secret_values(p["namespace"], p["name"], key, ca_key)
        except RuntimeFailure as exc:
            return Observation({}, [exc.message[:300]], output=exc.message)
        cert, ca = load_pem_cert(cert_pem), load_pem_cert(ca_pem)
        now = dt.datetime.now(dt.timezone.utc)
        seen: dict[str, Any] = {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
                                "daysLeft": (cert.not_valid_after_utc - now).days,
                                "validityDays": (cert.not_valid_after_utc - cert.not_valid_before_utc).days}
        try:
            seen["dns"] = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            seen["dns"] = []
        try:
            cert.verify_directly_issued_by(ca)
            valid = cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
            seen["verified"], reason = valid, "" if valid else "outside its validity period"
        except Exception as exc:  # a signature by another key, another issuer name: not issued by this CA
            seen["verified"], reason = False, f"not issued by {ca.subject.rfc4514_string()} ({type(exc).__name__}: {str(exc)[:120]})"
        expect, problems = check.expect, []
        if "verified" in expect and seen["verified"] != expect["verified"]:
            problems.append(f"{p.get('key', 'tls.crt')} does not verify against {self._ca_name(p)}: {reason}" if expect["verified"]
                            else f"{p.get('key', 'tls.crt')} verifies against {self._ca_name(p)}, expected it not to")
        if "dns" in expect and expect["dns"] not in seen["dns"]:
            problems.append(f"subjectAltName DNS {seen['dns']} does not name {expect['dns']}")
        if "issuerCN" in expect and f"CN={expect['issuerCN']}" not in seen["issuer"].split(","):
            problems.append(f"issuer is {seen['issuer']}, expected CN={expect['issuerCN']}")
        if "validityDays" in expect and seen["validityDays"] != expect["validityDays"]:
            problems.append(f"issued for {seen['validityDays']} days, expected {expect['validityDays']}")
        if "minDaysLeft" in expect and seen["daysLeft"] < expect["minDaysLeft"]:
            problems.append(f"{seen['daysLeft']} days left, expected at least {expect['minDaysLeft']}")
        output = f"{where} {p.get('key', 'tls.crt')}: subject {seen['subject']}, issuer {seen['issuer']}, DNS {seen['dns']}, " \
                 f"{seen['daysLeft']} days left; against {self._ca_name(p)} ({ca.subject.rfc4514_string()}): " + ("OK" if seen["verified"] else reason)
        return Observation(seen, problems, output=output)

