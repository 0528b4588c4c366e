"""`cluster-cert`: the API server's serving certificate, as a real TLS handshake presents it, chains to the
cluster CA and is valid long enough; the output carries the cluster's certificate table (issuer, SANs, key
usage, days left), and on kind `kubeadm certs check-expiration`."""

from __future__ import annotations

import datetime as dt
import ssl
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from orchestrator.checks.base import Observation, brief, say
from orchestrator.spec.model import Check


def _cn(name: x509.Name) -> str:
    return ", ".join(a.value for a in name.get_attributes_for_oid(NameOID.COMMON_NAME)) or name.rfc4514_string()


def certificate_table(certs: list[tuple[str, bytes]], now: dt.datetime) -> str:
    """One line per certificate, as `lab certs verify` and kubeadm show them."""
    from orchestrator.pki.inspect import summarize

    lines = [f"{'CERTIFICATE':<28} {'SUBJECT CN':<32} {'ISSUER CN':<20} {'DAYS LEFT':>9}  KEY USAGE / SANS"]
    for name, pem in certs:
        cert = x509.load_pem_x509_certificate(pem)
        info = summarize(cert, now)
        extra = ", ".join(info["key_usage"] + info["extended_key_usage"])
        sans = ", ".join(info["dns_names"] + info["ip_addresses"])
        lines.append(f"{name:<28} {_cn(cert.subject)[:32]:<32} {_cn(cert.issuer)[:20]:<20} {info['days_left']:>9}  {extra}"
                     + (f" / {sans}" if sans else ""))
    return "\n".join(lines)


class ClusterCertCheck:
    name = "cluster-cert"
    runs_in_pod = False
    required = ("expect",)
    params: dict[str, Any] = {}
    expect = {
        "issuedByClusterCA": {"type": "boolean"},
        "minDaysLeft": {"type": "integer", "minimum": 0, "maximum": 36500},
        "dns": {"type": "string", "minLength": 1},  # a name the serving certificate must carry
    }

    def problems(self, params: dict, expect: dict) -> list[tuple[str, str]]:
        return [] if expect else [("expect", "say what to expect (issuedByClusterCA, minDaysLeft, dns)")]

    def side_by_side(self, check: Check) -> bool:
        return True  # it reads a certificate

    def is_refusal(self, expect: dict) -> bool:
        return False

    def summary(self, seen: dict) -> str:
        return brief(seen, ("subjectCN", "issuerCN", "daysLeft"))

    def expectations(self, expect: dict) -> list[str]:
        return say(expect, {
            "issuedByClusterCA": lambda v: "the API server's serving certificate " + ("chains" if v else "does not chain") + " to the cluster CA",
            "minDaysLeft": "it is valid for at least {} more days",
            "dns": "its SANs include {}",
        })

    def commands(self, check: Check) -> list:
        """The API server's serving certificate, read as any client reads it, against the CA the kubeconfig trusts."""
        view = "kubectl config view --raw --minify -o jsonpath"
        return [f"{view}='{{.clusters[0].cluster.certificate-authority-data}}' | base64 -d > cluster-ca.crt",
                f"server=$({view}='{{.clusters[0].cluster.server}}'); openssl s_client -connect \"${{server#https://}}\" -CAfile cluster-ca.crt "
                "</dev/null 2>/dev/null | openssl x509 -noout -subject -issuer -enddate -ext subjectAltName"]

    def attempt(self, check: Check, runtime, timeout: float, since: float) -> Observation:
        from orchestrator.kube.kubeconfig import admin_cluster

        _name, server, ca_pem = admin_cluster(runtime.kubeconfig)
        url = urlsplit(server)
        pem = ssl.get_server_certificate((url.hostname, url.port or 443), timeout=min(timeout, 10))
        cert = x509.load_pem_x509_certificate(pem.encode())
        now = dt.datetime.now(dt.timezone.utc)
        ca = x509.load_pem_x509_certificate(ca_pem)
        try:
            cert.verify_directly_issued_by(ca)
            chained = True
        except Exception:
            chained = False
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            sans = []
        seen = {"subjectCN": _cn(cert.subject), "issuerCN": _cn(cert.issuer), "issuedByClusterCA": chained,
                "daysLeft": (cert.not_valid_after_utc - now).days, "dns": sans}
        expect, problems = check.expect, []
        if "issuedByClusterCA" in expect and chained != expect["issuedByClusterCA"]:
            problems.append(f"the serving certificate (issuer {seen['issuerCN']}) " + ("does not chain" if not chained else "chains") + " to the cluster CA "
                            f"({_cn(ca.subject)})")
        if "minDaysLeft" in expect and seen["daysLeft"] < expect["minDaysLeft"]:
            problems.append(f"{seen['daysLeft']} days left, expected at least {expect['minDaysLeft']}")
        if "dns" in expect and expect["dns"] not in sans:
            problems.append(f"SANs {sans} do not include {expect['dns']}")
        certs, report = runtime.cluster_certificates()
        output = f"serving certificate of {server}: {seen}\n\n{certificate_table(certs, now)}" + (f"\n\n$ kubeadm certs check-expiration\n{report}" if report else "")
        return Observation(seen, problems, output=output)
