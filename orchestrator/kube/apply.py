"""The Kubernetes side both runtimes share: one API path (server-side apply, the same waits, deletion by
label) and finding the lab's pods, whatever runs the cluster (kind, or the docker runtime's control plane)."""

from __future__ import annotations

import re

from orchestrator.errors import BadInput, PermanentFailure
from orchestrator.kube.objects import OWNED_KINDS, deletion_order, lab_pods, labels_match, owned_by, resolve_pod
from orchestrator.spec.model import PodRef, Wait


POD_NAME = re.compile(r"^(?:([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)/)?([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$")


def pod_named(kube, docs: list[dict], given: str) -> tuple[str, str]:
    """(namespace, name) of the pod a person names (`name` or `namespace/name`): a Pod of the lab's manifests, a
    workload of them (its first running pod), or a pod the API server has by that name in the lab's namespaces."""
    match = POD_NAME.fullmatch(given)
    if match is None:
        raise BadInput(f"POD {given[:80]!r}: not a pod name (NAME or NAMESPACE/NAME)")
    namespace, name = match.group(1), match.group(3)
    pods = [p for p in lab_pods(docs) if namespace is None or p["metadata"].get("namespace", "default") == namespace]
    for pod in pods:
        meta = pod["metadata"]
        if meta["name"] == name:
            return meta.get("namespace", "default"), name
        if meta["name"] is None and meta["owner"].split(" ", 1)[1] == name:
            selector = ",".join(f"{k}={v}" for k, v in meta["labels"].items())
            return find_pod(kube, PodRef(meta.get("namespace", "default"), None, selector), docs)
    for space in sorted({namespace} if namespace else {p["metadata"].get("namespace", "default") for p in pods}):
        if any(p["metadata"]["name"] == name for p in kube.list("v1", "Pod", space)):
            return space, name
    known = ", ".join(f"{p['metadata'].get('namespace', 'default')}/{p['metadata']['name'] or p['metadata']['owner'].split(' ', 1)[1]}"
                      for p in lab_pods(docs)) or "none"
    raise BadInput(f"POD {given}: no pod of the lab has that name (its pods and workloads: {known})")


def reset(kube, docs: list[dict], selector: str, timeout: float) -> list[str]:
    """Delete the lab's objects of a previous run, and what they own (OWNED_KINDS), and wait until they are gone,
    as the API server answers: a Pod still terminating cannot be created again, a namespace left behind would make
    a participant's own `kubectl create namespace` of the stage fail, and a Secret left behind would keep the
    certificate of the CA of the last run."""
    kinds = deletion_order(docs)
    owners = {item["metadata"]["uid"] for api_version, kind in kinds for item in kube.labelled(api_version, kind, selector)}
    removed = []
    for api_version, kind in kinds:
        removed += kube.delete_labelled(api_version, kind, selector)
    for api_version, kind in OWNED_KINDS:
        for item in kube.list(api_version, kind):
            if owned_by(item, owners):
                meta = item["metadata"]
                removed.append(kube.delete(api_version, kind, meta["name"], meta.get("namespace")))
    if removed:
        kube.wait_deleted(kinds, selector, timeout)
    return removed


def wait(kube, spec: Wait, kind) -> None:
    ref = kind.ref(spec.params)
    kube.wait_for(f"{ref}: {kind.description}", ref.api_version, ref.kind, ref.name, ref.namespace,
                  lambda obj: kind.ready(obj, spec.params), spec.timeout)


def find_pod(kube, ref: PodRef | None, docs: list[dict]) -> tuple[str, str]:
    """(namespace, name) of the pod a check runs in: a pod of the manifests by name, or by labels a running pod
    the API server knows (one a Deployment made, say)."""
    doc = resolve_pod(ref, docs)
    if doc["metadata"].get("name"):
        return doc["metadata"].get("namespace", "default"), doc["metadata"]["name"]
    namespace = (ref.namespace if ref else None) or doc["metadata"].get("namespace", "default")
    pods = [p for p in kube.list("v1", "Pod", namespace) if (p.get("status") or {}).get("phase") == "Running"
            and labels_match(p["metadata"].get("labels") or {}, ref.selector if ref else "")]
    if not pods:
        raise PermanentFailure(f"no running pod in {namespace} has the labels {ref.selector if ref else ''}")
    return namespace, sorted(p["metadata"]["name"] for p in pods)[0]
