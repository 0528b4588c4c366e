"""Check kinds by name: explicit, built by `default_checks()`, never an import-time global."""

from __future__ import annotations

from orchestrator.checks.base import CheckKind
from orchestrator.registry import Registry


class CheckRegistry(Registry[CheckKind]):
    what = "check kind"


def default_checks() -> CheckRegistry:
    from orchestrator.checks.admission import AdmissionCheck
    from orchestrator.checks.ca_bundle import CaBundleCheck
    from orchestrator.checks.cluster_cert import ClusterCertCheck
    from orchestrator.checks.csr import CsrCheck
    from orchestrator.checks.http import HttpCheck
    from orchestrator.checks.hubble import HubbleCheck
    from orchestrator.checks.kube_access import KubeAccessCheck
    from orchestrator.checks.load_balancer import LoadBalancerCheck
    from orchestrator.checks.secret_cert import SecretCertCheck
    from orchestrator.checks.tls import TlsCheck

    return CheckRegistry([HttpCheck(), TlsCheck(), HubbleCheck(), KubeAccessCheck(), CsrCheck(), ClusterCertCheck(),
                          AdmissionCheck(), SecretCertCheck(), CaBundleCheck(), LoadBalancerCheck()])
