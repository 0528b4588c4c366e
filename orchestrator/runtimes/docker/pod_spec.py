"""What the docker runtime's node accepts of a pod spec (and refuses by field), and the names it labels pods'
containers with."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

log = logging.getLogger("lab.node")

ROLE_LABEL = "lab.dev/role"
POD_ROLE = "pod"
VOLUMES_ROLE = "pod-volumes"  # the helper container that writes a pod's volumes
VOLUME_REFRESH = 1.0  # seconds between looks at a running pod's Secret and ConfigMap volumes (the kubelet: about a minute)
POD_UID_LABEL = "lab.dev/pod-uid"
POD_LABEL = "lab.dev/pod"
NAMESPACE_LABEL = "lab.dev/namespace"
KUBELET_VERSION = "v1.35.4"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
STRATEGIC_MERGE = "application/strategic-merge-patch+json"  # what the typed client sends for a status patch

POD_FIELDS = {"containers", "volumes", "restartPolicy", "terminationGracePeriodSeconds", "dnsPolicy", "serviceAccountName",
              "serviceAccount", "automountServiceAccountToken", "nodeName", "schedulerName", "securityContext", "tolerations",
              "priority", "priorityClassName", "preemptionPolicy", "enableServiceLinks", "hostname", "subdomain", "nodeSelector",
              "affinity"}
CONTAINER_FIELDS = {"name", "image", "imagePullPolicy", "command", "args", "env", "envFrom", "ports", "resources", "volumeMounts",
                    "readinessProbe", "livenessProbe", "startupProbe", "securityContext", "workingDir", "terminationMessagePath",
                    "terminationMessagePolicy", "stdin", "tty"}
CONTAINER_SECURITY = {"runAsUser", "runAsGroup", "runAsNonRoot", "allowPrivilegeEscalation", "capabilities", "privileged",
                      "readOnlyRootFilesystem", "seccompProfile"}
POD_SECURITY = {"runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "seccompProfile", "supplementalGroups"}
VOLUME_KINDS = {"secret", "configMap", "projected", "emptyDir", "downwardAPI"}
# Capabilities a pod may add: Docker's default set and the network ones that act in the pod's own namespace. The
# node's containers share the host's kernel (no node container in between, as kind has): none that reach it.
ADDABLE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "NET_RAW",
                        "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT", "NET_ADMIN"}


class Refused(Exception):
    """The pod's container cannot be created as asked (the kubelet's CreateContainerConfigError)."""


@dataclass
class ProbeTrack:
    """A probe's state for one container: what it reports, and how many results in a row said otherwise."""

    ok: bool
    last: float = 0.0  # monotonic time of the last probe
    streak: int = 0


class Unsupported(Exception):
    """The pod asks for something this node cannot do; `field` names it."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def unsupported_fields(pod: dict) -> None:
    spec = pod["spec"]
    for key in sorted(set(spec) - POD_FIELDS):
        if spec[key] not in (None, [], {}, False):
            raise Unsupported(f"spec.{key}", "not supported by the docker runtime's node")
    for key in sorted(set(spec.get("securityContext") or {}) - POD_SECURITY):
        raise Unsupported(f"spec.securityContext.{key}", "not supported by the docker runtime's node")
    if len(spec["containers"]) != 1:
        raise Unsupported("spec.containers", f"the docker runtime's node runs single-container pods ({len(spec['containers'])} given)")
    container = spec["containers"][0]
    for key in sorted(set(container) - CONTAINER_FIELDS):
        if container[key] not in (None, [], {}, False):
            raise Unsupported(f"spec.containers[0].{key}", "not supported by the docker runtime's node")
    for key in sorted(set(container.get("securityContext") or {}) - CONTAINER_SECURITY):
        raise Unsupported(f"spec.containers[0].securityContext.{key}", "not supported by the docker runtime's node")
    for where, context in (("spec.securityContext", spec.get("securityContext") or {}),
                           ("spec.containers[0].securityContext", container.get("securityContext") or {})):
        profile = (context.get("seccompProfile") or {}).get("type")
        if profile not in (None, "RuntimeDefault"):
            raise Unsupported(f"{where}.seccompProfile", f"{profile}: the node runs containers with Docker's default profile only")
    for i, mount in enumerate(container.get("volumeMounts") or []):
        if mount.get("subPath") or mount.get("subPathExpr") or mount.get("mountPropagation"):
            raise Unsupported(f"spec.containers[0].volumeMounts[{i}]", "subPath and mountPropagation are not supported")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= VOLUME_KINDS:
            raise Unsupported(f"spec.volumes[{volume['name']}]", f"{', '.join(sorted(kinds - VOLUME_KINDS))} volumes are not supported")


