"""Kubernetes users made from certificates, as the seed makes them and as the docs recommend today.

The lab's PKI engine makes the user's key and CSR (CN=<user>, O=<group> per group). Then the certificate comes
from the cluster's CSR API (a `certificates.k8s.io/v1` CertificateSigningRequest for the
`kubernetes.io/kube-apiserver-client` signer, approved, signed by the real controller-manager), or from the
cluster CA's key directly (the seed's "1인 2역": you are both client and CA), or from a CA the cluster does not
trust (what the API server must refuse). The user gets a kubeconfig of its own (0600) with the context
`<user>@<cluster>`; key, CSR and certificate are kept beside it for `openssl` to read.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from orchestrator.kube.kubeconfig import admin_cluster, kubeconfig as kubeconfig_text
from orchestrator.errors import RuntimeFailure
from orchestrator.files import write_atomic
from orchestrator.pki.issue import Issuer, Validity, build_name, issue_leaf, issue_root, new_key
from orchestrator.pki.store import cert_pem, key_pem
from orchestrator.spec.model import UserSpec

SIGNER = "kubernetes.io/kube-apiserver-client"
USER_LABEL = "lab.dev/user"


def users_dir(state_dir: Path) -> Path:
    return state_dir / "users"


def user_kubeconfig(state_dir: Path, name: str) -> Path:
    return users_dir(state_dir) / f"{name}.kubeconfig"


def user_subject(spec: UserSpec) -> x509.Name:
    return build_name(spec.cn, tuple(("O", group) for group in spec.groups))


def make_user(runtime, spec: UserSpec, labels: dict[str, str]) -> Path:
    """Key and CSR, a certificate by spec.via, and the user's kubeconfig; returns the kubeconfig's path."""
    key = new_key("rsa-2048")  # as the seed: openssl genrsa 2048
    csr = x509.CertificateSigningRequestBuilder().subject_name(user_subject(spec)).sign(key, hashes.SHA256())
    csr_pem = csr.public_bytes(serialization.Encoding.PEM)
    now = dt.datetime.now(dt.timezone.utc)
    if spec.via == "csr":
        cert = _by_csr_api(runtime.kube, spec, csr_pem, labels)
    elif spec.via == "cluster-ca":
        ca_pem, ca_key_pem = runtime.cluster_ca()
        issuer = Issuer(serialization.load_pem_private_key(ca_key_pem, None), x509.load_pem_x509_certificate(ca_pem))
        cert = issue_leaf(key, user_subject(spec), Validity.days_from(now, spec.days), issuer, usage="client")
    else:  # untrusted-ca: the same subject from a CA of its own, which the cluster has never seen
        foreign_key = new_key("ecdsa-p256")
        foreign = Issuer(foreign_key, issue_root(foreign_key, build_name(f"{spec.cn}'s own CA"), Validity.days_from(now, spec.days)))
        cert = issue_leaf(key, user_subject(spec), Validity.days_from(now, spec.days), foreign, usage="client")
    cluster, server, ca = admin_cluster(runtime.kubeconfig)
    folder = users_dir(runtime.instance.state_dir)
    write_atomic(folder / f"{spec.name}.key", key_pem(key), 0o600)
    write_atomic(folder / f"{spec.name}.csr", csr_pem, 0o644)
    write_atomic(folder / f"{spec.name}.crt", cert_pem(cert), 0o644)
    text = yaml.safe_load(kubeconfig_text(cluster, server, ca, spec.name, cert_pem(cert), key_pem(key)))
    if spec.namespace:
        text["contexts"][0]["context"]["namespace"] = spec.namespace
    path = user_kubeconfig(runtime.instance.state_dir, spec.name)
    write_atomic(path, yaml.safe_dump(text, sort_keys=False).encode(), 0o600)
    return path


def _by_csr_api(kube, spec: UserSpec, csr_pem: bytes, labels: dict[str, str]) -> x509.Certificate:
    selector = ",".join(f"{k}={v}" for k, v in {**labels, USER_LABEL: spec.name}.items())
    # A CSR's request cannot change: an earlier run's is deleted first (by its labels, as everything of the lab).
    if kube.delete_labelled("certificates.k8s.io/v1", "CertificateSigningRequest", selector):
        kube.wait_deleted([("certificates.k8s.io/v1", "CertificateSigningRequest")], selector, spec.timeout)
    kube.apply({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": spec.name, "labels": {**labels, USER_LABEL: spec.name}},
        "spec": {"request": base64.b64encode(csr_pem).decode(), "signerName": SIGNER,
                 "expirationSeconds": spec.expiration_seconds, "usages": ["client auth"]},
    })
    kube.approve_csr(spec.name, "LabApproved", f"approved by lab for user {spec.name}")

    def issued(obj: dict) -> tuple[bool, str]:
        status = obj.get("status") or {}
        conditions = ", ".join(f"{c.get('type')}={c.get('status')}" for c in status.get("conditions") or []) or "no conditions"
        return bool(status.get("certificate")), conditions

    kube.wait_for(f"CertificateSigningRequest {spec.name}: signed by {SIGNER}", "certificates.k8s.io/v1", "CertificateSigningRequest",
                  spec.name, None, issued, spec.timeout)
    issued_pem = base64.b64decode(kube.get("certificates.k8s.io/v1", "CertificateSigningRequest", spec.name)["status"]["certificate"])
    try:
        return x509.load_pem_x509_certificate(issued_pem)
    except ValueError:
        raise RuntimeFailure(f"CertificateSigningRequest {spec.name}: status.certificate is not a PEM certificate") from None


def by_hand(spec: UserSpec, labels: dict[str, str], runtime: str, node: str) -> list[str]:
    """The same user made by hand, as the seed types it (the walkthrough's commands): files in $LAB_USERS, where
    `lab check` finds the user's kubeconfig; the cluster CA's key read where the runtime keeps it (kind: on the
    control-plane `node`; docker: $LAB_CLUSTER_PKI), never copied out."""
    import shlex

    where = '"$LAB_USERS"/' + spec.name
    key, csr, crt, config = f"{where}.key", f"{where}.csr", f"{where}.crt", f"{where}.kubeconfig"
    subject = "/CN=" + spec.cn + "".join(f"/O={g}" for g in spec.groups)
    serial = "-set_serial 0x$(openssl rand -hex 16)"
    commands = ['mkdir -p "$LAB_USERS"', f"openssl genrsa -out {key} 2048", f"chmod 600 {key}",
                f"openssl req -new -key {key} -out {csr} -subj {shlex.quote(subject)}"]
    if spec.via == "csr":
        label_lines = "".join(f"\n    {k}: {v}" for k, v in {**labels, USER_LABEL: spec.name}.items())
        commands += [
            "cat <<EOF | kubectl apply -f -\napiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\n"
            f"metadata:\n  name: {spec.name}\n  labels:{label_lines}\nspec:\n  request: $(base64 -w0 {csr})\n  signerName: {SIGNER}\n"
            f"  expirationSeconds: {spec.expiration_seconds}\n  usages: [client auth]\nEOF",
            f"kubectl certificate approve {spec.name}",
            f"kubectl wait --for=jsonpath='{{.status.certificate}}' csr/{spec.name} --timeout={spec.timeout:.0f}s   # the controller-manager signs it",
            f"kubectl get csr {spec.name} -o jsonpath='{{.status.certificate}}' | base64 -d > {crt}",
        ]
    elif spec.via == "cluster-ca" and runtime == "kind":
        pki = "/etc/kubernetes/pki"
        commands.append(f"docker exec {node} cat {pki}/ca.key | openssl x509 -req -in {csr} -CA <(docker exec {node} cat {pki}/ca.crt) "
                        f"-CAkey /dev/stdin {serial} -days {spec.days} -out {crt}   # the key stays off disk")
    elif spec.via == "cluster-ca":
        commands.append(f'openssl x509 -req -in {csr} -CA "$LAB_CLUSTER_PKI"/ca.crt -CAkey "$LAB_CLUSTER_PKI"/ca.key {serial} '
                        f"-days {spec.days} -out {crt}")
    else:
        own = f"{where}-own-ca"
        commands += [f"openssl req -x509 -newkey rsa:2048 -nodes -keyout {own}.key -out {own}.crt -subj '/CN=not the cluster CA' -days {spec.days}",
                     f"openssl x509 -req -in {csr} -CA {own}.crt -CAkey {own}.key {serial} -out {crt} -days {spec.days}"]
    view = "kubectl config view --raw --minify -o jsonpath"
    commands += [f"{view}='{{.clusters[0].cluster.certificate-authority-data}}' | base64 -d > \"$LAB_USERS\"/cluster-ca.crt",
                 f"kubectl --kubeconfig {config} config set-cluster kubernetes --server=\"$({view}='{{.clusters[0].cluster.server}}')\" "
                 f"--certificate-authority=\"$LAB_USERS\"/cluster-ca.crt --embed-certs",
                 f"kubectl --kubeconfig {config} config set-credentials {spec.name} --client-certificate={crt} --client-key={key} --embed-certs",
                 f"kubectl --kubeconfig {config} config set-context {spec.name}@kubernetes --cluster=kubernetes --user={spec.name}"
                 + (f" --namespace={spec.namespace}" if spec.namespace else ""),
                 f"kubectl --kubeconfig {config} config use-context {spec.name}@kubernetes",
                 f"chmod 600 {config}"]
    return commands
