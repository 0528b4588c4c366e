"""What the tool knows of Kubernetes objects as data: the pods a lab's manifests make (its Pods and its
workloads' templates), label selectors, and the order kinds are created in."""

from __future__ import annotations

from orchestrator.errors import BadInput
from orchestrator.spec.model import PodRef

TEMPLATED_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job")
# Kubernetes' own namespaces: a lab may put objects in them but never owns one (it deletes its namespaces on reset).
KUBERNETES_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


def lab_pods(docs: list[dict]) -> list[dict]:
    """The lab's Pods, and the pod templates of its workloads (named None: a controller names them)."""
    pods = [d for d in docs if d.get("kind") == "Pod"]
    for doc in docs:
        if doc.get("kind") in TEMPLATED_KINDS:
            template = ((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}
            pods.append({"kind": "Pod", "metadata": {"name": None, "namespace": doc["metadata"].get("namespace", "default"),
                                                     "labels": template.get("labels") or {}, "owner": f"{doc['kind']} {doc['metadata']['name']}"}})
    return pods


def labels_match(labels: dict, selector: str) -> bool:
    """A Kubernetes equality-based label selector (`a=b,c=d`, `a!=b`, `a`) against labels."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.strip().rstrip("=")) != value.strip().lstrip("="):
                return False
        elif term.strip() not in labels:
            return False
    return True


def resolve_pod(pod: PodRef | None, docs: list[dict], where: str = "manifests") -> dict:
    """The lab's pod a check runs in: by name or labels; with no `from:`, the lab's only pod."""
    pods = lab_pods(docs)
    if pod is None:
        if len(pods) != 1 or pods[0]["metadata"]["name"] is None:
            names = ", ".join(p["metadata"]["name"] or p["metadata"]["owner"] for p in pods) or "none"
            raise BadInput(f"{where}: a check without `from:` runs in the lab's only pod, but the lab has {len(pods)} ({names}); add `from: <pod>`")
        return pods[0]
    found = [p for p in pods
             if (pod.namespace is None or p["metadata"].get("namespace", "default") == pod.namespace)
             and (pod.name is None or p["metadata"]["name"] == pod.name)
             and (pod.selector is None or labels_match(p["metadata"].get("labels") or {}, pod.selector))]
    if not found:
        names = ", ".join(f"{p['metadata'].get('namespace', 'default')}/{p['metadata']['name'] or p['metadata']['owner']}" for p in pods) or "none"
        raise BadInput(f"{where}: from: no pod of the lab is {pod} (pods: {names})")
    return found[0]


def applied_kinds(docs: list[dict]) -> list[tuple[str, str]]:
    """Kinds in the order the lab's manifests create them."""
    seen = []
    for doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        if key not in seen:
            seen.append(key)
    return seen


# What the lab's objects make and own, that a reset deletes with them: cert-manager's Secrets of its Certificates
# (--enable-certificate-owner-ref). The garbage collector would, but only once its discovery knows the owner's kind
# again, and a reset deletes CRDs and makes them anew.
OWNED_KINDS = [("v1", "Secret")]


def owned_by(doc: dict, owners: set[str]) -> bool:
    return any(ref.get("uid") in owners for ref in (doc.get("metadata") or {}).get("ownerReferences") or [])


def deletion_order(docs: list[dict]) -> list[tuple[str, str]]:
    """Kinds in the order a reset deletes them: the reverse of creation (a policy before the config it points
    at), namespaces last (deleting one deletes what is in it)."""
    kinds = list(reversed(applied_kinds(docs)))
    return [k for k in kinds if k != ("v1", "Namespace")] + [k for k in kinds if k == ("v1", "Namespace")]
