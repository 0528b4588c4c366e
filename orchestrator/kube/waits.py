"""Wait kinds: each names the object it waits on and when that object is ready, as data over its JSON.

Runtimes run them all the same way (poll the object, apply the predicate, time out with what was last
seen); a lab author picks a kind in the spec. Built by `default_waits()`, never an import-time global.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from orchestrator.registry import Registry

NAME = {"type": "string", "minLength": 1, "maxLength": 253}
NAMESPACE = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"}


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


def condition_status(obj: dict, condition: str) -> str | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == condition:
            return item.get("status")
    return None


@dataclass(frozen=True)
class WaitKind:
    name: str
    params: dict[str, Any]
    required: tuple[str, ...]
    target: Callable[[dict], ObjectRef]
    ready: Callable[[dict, dict], tuple[bool, str]]  # (object, params) -> (done, what was seen)
    condition_for_kubectl: Callable[[dict], str]
    description: str

    def ref(self, params: dict) -> ObjectRef:
        return self.target(params)

    def kubectl(self, params: dict, timeout: float) -> list[str]:
        """What a participant would type to wait the same way."""
        ref = self.target(params)
        if self.name == "rollout":
            argv = ["kubectl", "rollout", "status", f"{ref.kind.lower()}/{ref.name}", f"--timeout={int(timeout)}s"]
        else:
            argv = ["kubectl", "wait", f"--for={self.condition_for_kubectl(params)}", f"{ref.kind.lower()}/{ref.name}", f"--timeout={int(timeout)}s"]
        return argv + (["-n", ref.namespace] if ref.namespace else [])


def _condition_ready(condition: str, status: str = "True"):
    def ready(obj: dict, _params: dict) -> tuple[bool, str]:
        seen = condition_status(obj, condition)
        phase = (obj.get("status") or {}).get("phase")
        return seen == status, f"{condition}={seen or 'absent'}" + (f", phase {phase}" if phase else "")

    return ready


def _generic_ready(obj: dict, params: dict) -> tuple[bool, str]:
    return _condition_ready(params["condition"], str(params.get("status", "True")))(obj, params)


def rollout_ready(obj: dict, _params: dict) -> tuple[bool, str]:
    """Like `kubectl rollout status`: the controller saw the latest spec and every replica is updated and available."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 1):
        return False, f"generation {meta.get('generation')} not observed yet (observed {status.get('observedGeneration', 0)})"
    kind = obj.get("kind")
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        updated, available = status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0)
        return desired > 0 and updated >= desired and available >= desired, f"{updated} updated, {available}/{desired} available"
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    ready_key = "availableReplicas" if kind == "Deployment" else "readyReplicas"
    ready_count, total = status.get(ready_key, 0), status.get("replicas", 0)
    done = updated >= wanted and ready_count >= wanted and total <= updated
    return done, f"{updated} updated, {ready_count}/{wanted} {'available' if kind == 'Deployment' else 'ready'}, {total} total"


def default_waits() -> "WaitRegistry":
    return WaitRegistry([
        WaitKind("pod-ready", {"namespace": NAMESPACE, "name": NAME}, ("namespace", "name"),
                 lambda p: ObjectRef("v1", "Pod", p["name"], p["namespace"]), _condition_ready("Ready"),
                 lambda p: "condition=Ready", "a Pod is Ready"),
        WaitKind("crd-established", {"name": NAME}, ("name",),
                 lambda p: ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", p["name"]), _condition_ready("Established"),
                 lambda p: "condition=Established", "a CustomResourceDefinition is Established"),
        WaitKind("rollout", {"kind": {"enum": ["Deployment", "DaemonSet", "StatefulSet"]}, "namespace": NAMESPACE, "name": NAME},
                 ("kind", "namespace", "name"),
                 lambda p: ObjectRef("apps/v1", p["kind"], p["name"], p["namespace"]), rollout_ready,
                 lambda p: "", "a Deployment, DaemonSet or StatefulSet is rolled out (observedGeneration, updated and available)"),
        WaitKind("condition", {"apiVersion": {"type": "string", "minLength": 1}, "kind": {"type": "string", "minLength": 1},
                               "namespace": NAMESPACE, "name": NAME, "condition": {"type": "string", "minLength": 1},
                               "status": {"enum": ["True", "False", "Unknown"]}},
                 ("apiVersion", "kind", "name", "condition"),
                 lambda p: ObjectRef(p["apiVersion"], p["kind"], p["name"], p.get("namespace")), _generic_ready,
                 lambda p: f"condition={p['condition']}" + (f"={p['status']}" if p.get("status", "True") != "True" else ""),
                 "any object's status condition (a Certificate Ready, a CSR Approved, ...)"),
    ])


class WaitRegistry(Registry[WaitKind]):
    what = "wait kind"
