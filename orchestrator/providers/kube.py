"""The Kubernetes API through the official Python client: server-side apply, waits, exec, logs, deletion by labels.

Imported only by the kind runtime, so `lab --help` never loads the kubernetes package.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from orchestrator.errors import RuntimeFailure

FIELD_MANAGER = "lab"


def wait_until(what: str, probe: Callable[[], tuple[bool, str]], timeout: float, interval: float = 2.0) -> None:
    """Poll probe until it says done; on timeout say what we waited for and what was last seen."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            done, last = probe()
        except Exception as exc:  # API not ready yet, object not created yet: keep waiting
            done, last = False, str(exc).splitlines()[0]
        if done:
            return
        if time.monotonic() > deadline:
            raise RuntimeFailure(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last seen: {last})" if last else ""))
        time.sleep(interval)


class KubeApi:
    def __init__(self, kubeconfig: Path):
        from kubernetes import client, config, dynamic

        self.api_client = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.ext = client.ApiextensionsV1Api(self.api_client)
        self.dynamic = dynamic.DynamicClient(self.api_client)

    def _resource(self, api_version: str, kind: str):
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def apply(self, doc: dict) -> None:
        meta = doc["metadata"]
        resource = self._resource(doc["apiVersion"], doc["kind"])
        kwargs = {"namespace": meta["namespace"]} if resource.namespaced else {}
        resource.server_side_apply(body=doc, name=meta["name"], field_manager=FIELD_MANAGER, force_conflicts=True, **kwargs)

    def delete_labelled(self, api_version: str, kind: str, selector: str) -> list[str]:
        resource = self._resource(api_version, kind)
        removed = []
        for item in resource.get(label_selector=selector).items:
            kwargs = {"namespace": item.metadata.namespace} if resource.namespaced else {}
            resource.delete(name=item.metadata.name, **kwargs)
            removed.append(f"{kind} {item.metadata.namespace + '/' if resource.namespaced else ''}{item.metadata.name}")
        return removed

    def wait_deleted(self, kinds: list[tuple[str, str]], selector: str, timeout: float) -> None:
        def probe():
            left = [f"{kind} {item.metadata.name}" for api_version, kind in kinds
                    for item in self._resource(api_version, kind).get(label_selector=selector).items]
            return not left, ", ".join(left)

        wait_until(f"objects labelled {selector} to be deleted", probe, timeout, interval=1.0)

    def wait_nodes_ready(self, timeout: float) -> None:
        def probe():
            nodes = self.core.list_node().items
            not_ready = [n.metadata.name for n in nodes if not any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
            return bool(nodes) and not not_ready, f"not ready: {', '.join(not_ready)}"

        wait_until("all nodes Ready", probe, timeout)

    def wait_rollout(self, kind: str, namespace: str, name: str, timeout: float) -> None:
        def probe():
            if kind == "DaemonSet":
                s = self.apps.read_namespaced_daemon_set_status(name, namespace).status
                desired, ready = s.desired_number_scheduled or 0, s.number_ready or 0
            else:
                s = self.apps.read_namespaced_deployment_status(name, namespace).status
                desired, ready = s.replicas or 0, s.ready_replicas or 0
            return desired > 0 and ready >= desired, f"{ready}/{desired} ready"

        wait_until(f"{kind} {namespace}/{name} ready", probe, timeout)

    def wait_crd_established(self, name: str, timeout: float) -> None:
        def probe():
            crd = self.ext.read_custom_resource_definition(name)
            ok = any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])
            return ok, "not established"

        wait_until(f"CRD {name} established", probe, timeout)

    def wait_pod_ready(self, namespace: str, name: str, timeout: float) -> None:
        def probe():
            pod = self.core.read_namespaced_pod(name, namespace)
            ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
            return ready, f"phase {pod.status.phase}"

        wait_until(f"pod {namespace}/{name} Ready", probe, timeout)

    def exec(self, namespace: str, pod: str, argv: list[str], container: str | None = None, timeout: float = 60) -> tuple[int, str, str]:
        from kubernetes.stream import stream

        resp = stream(self.core.connect_get_namespaced_pod_exec, pod, namespace, command=argv, container=container,
                      stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        out, err = [], []
        deadline = time.monotonic() + timeout
        while resp.is_open() and time.monotonic() < deadline:
            resp.update(timeout=1)
            if resp.peek_stdout():
                out.append(resp.read_stdout())
            if resp.peek_stderr():
                err.append(resp.read_stderr())
        resp.close()
        return (resp.returncode if resp.returncode is not None else -1), "".join(out), "".join(err)

    def pods(self, namespace: str, selector: str, node: str | None = None) -> list[str]:
        kwargs = {"field_selector": f"spec.nodeName={node}"} if node else {}
        return [p.metadata.name for p in self.core.list_namespaced_pod(namespace, label_selector=selector, **kwargs).items]

    def pod_node(self, namespace: str, name: str) -> str:
        return self.core.read_namespaced_pod(name, namespace).spec.node_name

    def logs(self, namespace: str, pod: str, container: str | None = None) -> str:
        return self.core.read_namespaced_pod_log(pod, namespace, container=container, timestamps=True)
