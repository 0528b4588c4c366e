"""`csr`: a CertificateSigningRequest as the cluster answered it: approved, a certificate issued by the cluster
CA (the admin kubeconfig's CA), for the subject and usage asked, for the lifetime asked."""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from orchestrator.checks.base import Observation, brief, say
from orchestrator.spec.model import Check
from orchestrator.kube.waits import condition_status

LIFETIME_TOLERANCE = 60  # seconds: a signer may round the duration
USAGES = {"clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH, "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH}


class CsrCheck:
    name = "csr"
    runs_in_pod = False
    required = ("name", "expect")
    params = {"name": {"type": "string", "pattern": "^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$"}}
    expect = {
        "approved": {"type": "boolean"},
        "signerName": {"type": "string", "minLength": 1},
        "subjectCN": {"type": "string", "minLength": 1},
        "subjectO": {"type": "array", "items": {"type": "string"}},
        "usage": {"enum": sorted(USAGES)},
        "lifetimeSeconds": {"type": "integer", "minimum": 600},
        "issuedByClusterCA": {"type": "boolean"},
    }

    def problems(self, params: dict, expect: dict) -> list[tuple[str, str]]:
        return [] if expect else [("expect", "say what to expect (approved, subjectCN, subjectO, usage, lifetimeSeconds, issuedByClusterCA)")]

    def side_by_side(self, check: Check) -> bool:
        return True  # it reads the request as the cluster answered it

    def is_refusal(self, expect: dict) -> bool:
        return False

    def summary(self, seen: dict) -> str:
        return brief(seen, ("approved", "subjectCN", "subjectO", "lifetimeSeconds", "issuer"))

    def expectations(self, expect: dict) -> list[str]:
        said = say(expect, {"approved": lambda v: "the request is Approved and has a certificate" if v else "the request is not approved",
                            "signerName": "for the signer {}"})
        if "subjectCN" in expect or "subjectO" in expect:
            said.append(f"the certificate's subject is CN={expect.get('subjectCN', '*')}, O={', '.join(expect.get('subjectO', ['*']))}")
        return said + say(expect, {"usage": "its extended key usage is {}", "lifetimeSeconds": "it is valid for {} s (expirationSeconds)",
                                   "issuedByClusterCA": lambda v: "it is " + ("" if v else "not ") + "signed by the cluster CA"})

    def commands(self, check: Check) -> list[list[str]]:
        name = check.params["name"]
        return [["kubectl", "get", "csr", name],
                f"kubectl get csr {name} -o jsonpath='{{.status.certificate}}' | base64 -d | openssl x509 -noout -subject -issuer -enddate"]

    def attempt(self, check: Check, runtime, timeout: float, since: float) -> Observation:
        from orchestrator.kube.kubeconfig import admin_cluster

        obj = runtime.kube.get("certificates.k8s.io/v1", "CertificateSigningRequest", check.params["name"])
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        seen: dict[str, Any] = {"approved": condition_status(obj, "Approved") == "True", "signerName": spec.get("signerName")}
        if condition_status(obj, "Denied") == "True":
            seen["denied"] = True
        cert = None
        if status.get("certificate"):
            cert = x509.load_pem_x509_certificate(base64.b64decode(status["certificate"]))
            seen["subjectCN"] = ", ".join(a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
            seen["subjectO"] = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
            seen["issuer"] = cert.issuer.rfc4514_string()
            try:
                eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
                seen["usage"] = sorted(name for name, oid in USAGES.items() if oid in eku)
            except x509.ExtensionNotFound:
                seen["usage"] = []
            # The signer backdates notBefore (clock skew) and counts the duration from there.
            seen["lifetimeSeconds"] = int((cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds())
            _name, _server, ca_pem = admin_cluster(runtime.kubeconfig)
            try:
                cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
                seen["issuedByClusterCA"] = True
            except Exception:
                seen["issuedByClusterCA"] = False
        expect, problems = check.expect, []
        if "approved" in expect and seen["approved"] != expect["approved"]:
            problems.append(f"Approved={seen['approved']}, expected {expect['approved']}")
        if cert is None and any(k in expect for k in ("subjectCN", "subjectO", "usage", "lifetimeSeconds", "issuedByClusterCA")):
            problems.append("no certificate issued yet (status.certificate is empty)")
        else:
            for key in ("signerName", "subjectCN", "issuedByClusterCA"):
                if key in expect and seen.get(key) != expect[key]:
                    problems.append(f"{key} is {seen.get(key)!r}, expected {expect[key]!r}")
            if "subjectO" in expect and sorted(seen.get("subjectO", [])) != sorted(expect["subjectO"]):
                problems.append(f"subject O is {seen.get('subjectO')}, expected {expect['subjectO']}")
            if "usage" in expect and seen.get("usage") != [expect["usage"]]:
                problems.append(f"extended key usage {seen.get('usage')}, expected [{expect['usage']}]")
            if "lifetimeSeconds" in expect and abs(seen.get("lifetimeSeconds", 0) - expect["lifetimeSeconds"]) > LIFETIME_TOLERANCE:
                problems.append(f"valid for {seen.get('lifetimeSeconds')} s (notBefore to notAfter), expected {expect['lifetimeSeconds']} s")
        return Observation(seen, problems, output=f"CertificateSigningRequest {check.params['name']}: {seen}")
