"""Whether the docker runtime's parts run: a check against a stopped part cannot pass however long it waits."""

from __future__ import annotations

from orchestrator.errors import PermanentFailure
from orchestrator.runtimes.docker.pod_spec import ROLE_LABEL, VOLUMES_ROLE


def require_running(engine, labels: dict[str, str], compose_doc: dict, instance) -> None:
    """Every container of the lab runs, or a check cannot pass however long it waits: say which is not.
    (Pods the node restarts itself; the compose stack nobody restarts, so a missing service is named too.)"""
    containers = engine.states(labels)
    names = {c.name for c in containers}
    for service in sorted(compose_doc.get("services") or {}):
        expected = f"{instance.compose_project}-{service}-1"
        if expected not in names:
            raise PermanentFailure(f"container {expected} (compose service {service}) does not exist; `lab down {instance.name}` and `lab up` again")
    for container in containers:
        if container.labels.get(ROLE_LABEL) == VOLUMES_ROLE:
            continue  # created to write a pod's volumes, never started
        if container.status != "running":
            full = engine.container(container.name)
            code = (full.attrs.get("State") or {}).get("ExitCode") if full is not None else None
            raise PermanentFailure(f"container {container.name} is {container.status}" + (f" (exit code {code})" if code is not None else "")
                                   + f"; `lab down {instance.name}` and `lab up` again")
