"""The Kubernetes side both runtimes share: one API path (server-side apply, the same waits, deletion by
label) and finding the lab's pods, whatever runs the cluster (kind, or the docker runtime's control plane)."""

from __future__ import annotations

from orchestrator.errors import PermanentFailure
from orchestrator.kube.objects import applied_kinds, labels_match, resolve_pod
from orchestrator.spec.model import PodRef, Wait


def reset(kube, docs: list[dict], selector: str, timeout: float) -> list[str]:
    """Delete the lab's objects of a previous run (policy before the config it points at) and wait until they
    are gone: a Pod still terminating cannot be created again. Namespaces stay: deleting one is slow and
    re-applying it while it terminates fails."""
    kinds = [k for k in reversed(applied_kinds(docs)) if k[1] != "Namespace"]
    removed = []
    for api_version, kind in kinds:
        removed += kube.delete_labelled(api_version, kind, selector)
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
