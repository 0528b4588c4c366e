"""The Kubernetes API through the official Python client: server-side apply, generic waits, exec, logs,
deletion by labels. Every client error becomes a RuntimeFailure carrying the API server's own message.

Imported only where a runtime talks to a cluster, so `lab --help` never loads the kubernetes package.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import Callable

from orchestrator.errors import LabError, PermanentFailure, RuntimeFailure

FIELD_MANAGER = "lab"


def wait_until(what: str, probe: Callable[[], tuple[bool, str]], timeout: float, interval: float = 0.2,
               changed: threading.Event | None = None) -> None:
    """Poll probe until it says done; on timeout say what we waited for and what was last seen. Polls start
    at 50 ms and back off to `interval`: most things a lab waits for are ready within a fraction of a second.
    `changed` (set by a watch on what the probe reads) ends a pause early."""
    deadline = time.monotonic() + timeout
    last = ""
    pause = min(0.05, interval)
    changed = changed or threading.Event()  # without a watch, never set: each pause runs its length
    while True:
        changed.clear()  # before the probe: a change during it ends the next pause at once
        try:
            done, last = probe()
        except PermanentFailure:
            raise
        except Exception as exc:  # API not ready yet, object not created yet: keep waiting
            done, last = False, (getattr(exc, "message", None) or str(exc)).splitlines()[0][:200]
        if done:
            return
        if time.monotonic() > deadline:
            raise RuntimeFailure(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last seen: {last})" if last else ""))
        changed.wait(pause)
        pause = min(pause * 1.5, interval)


def _api_message(exc) -> str:
    """The API server's own words: the Status message of the response body, else the reason."""
    try:
        body = json.loads(exc.body)
        return body.get("message") or str(exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(getattr(exc, "reason", exc))


@contextlib.contextmanager
def api_errors(what: str):
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
    from urllib3.exceptions import HTTPError

    try:
        yield
    except LabError:
        raise
    except ResourceNotFoundError as exc:
        raise RuntimeFailure(f"{what}: the API server does not know this kind ({exc}); are its CRDs installed?") from None
    except (ApiException, DynamicApiError) as exc:
        status = getattr(exc, "status", "?")
        raise RuntimeFailure(f"{what}: the API server refused it ({status}): {_api_message(exc)[:500]}") from None
    except (OSError, TimeoutError, HTTPError) as exc:  # connection refused, reset, timed out; urllib3's retries given up
        raise RuntimeFailure(f"{what}: cannot reach the API server: {_reason(exc)}") from None


def _reason(exc) -> str:
    """The cause in a line: urllib3 wraps it (MaxRetryError's reason), without the pool's repr."""
    reason = getattr(exc, "reason", None) or exc
    return str(reason).splitlines()[0].split(">: ")[-1][:200]


def _answer(data: bytes | None):
    """A response body as the API server sent it (JSON, usually a Status), or its first bytes as the message."""
    try:
        return json.loads(data or b"null")
    except ValueError:
        return {"message": (data or b"")[:300].decode(errors="replace")}


def refusal(what: str, status: int, answer) -> RuntimeFailure:
    """The API server refusing `what`, in its own words: the message of the Status it answered (see call())."""
    message = answer.get("message", "") if isinstance(answer, dict) else ""
    return RuntimeFailure(f"{what}: the API server refused it ({status}): {message[:300]}")


def _placed(resource, doc: dict) -> tuple[dict, dict]:
    """The object with its namespace (a namespaced one without any goes to `default`, as with kubectl), and the
    namespace argument for the client."""
    if not resource.namespaced:
        return doc, {}
    if not doc["metadata"].get("namespace"):
        doc = {**doc, "metadata": {**doc["metadata"], "namespace": "default"}}
    return doc, {"namespace": doc["metadata"]["namespace"]}


class WatchStream:
    """One watch's events ({"type", "object"}) as the API server streams them, a JSON object a line; stop()
    from another thread ends the stream (its reader sees it end, not an error)."""

    def __init__(self, response, what: str):
        self.response, self.what, self.stopped = response, what, False

    def __iter__(self):
        from kubernetes.watch.watch import iter_resp_lines
        from urllib3.exceptions import HTTPError

        try:
            for line in iter_resp_lines(self.response):
                if line:
                    yield json.loads(line)
        except (OSError, TimeoutError, ValueError, HTTPError) as exc:
            if not self.stopped:  # the connection dropped mid-stream
                raise RuntimeFailure(f"{self.what}: the stream broke: {str(exc).splitlines()[0][:200]}") from None
        finally:
            self.response.release_conn()

    def stop(self) -> None:
        self.stopped = True
        with contextlib.suppress(Exception):
            self.response.shutdown()


class KubeApi:
    def __init__(self, kubeconfig: Path):
        from kubernetes import config

        with api_errors(f"connect with {kubeconfig}"):
            self.api_client = config.new_client_from_config(config_file=str(kubeconfig))
        self._dynamic = None
        # The client's discovery is not thread-safe (checks run side by side, each following Cilium's objects):
        # two threads loading a group's resources at once meet a half-filled cache (KeyError 'resources').
        self._discovery = threading.RLock()
        # Discovery's cache, per API server as the client keys it, beside the kubeconfig (the instance's state,
        # which `down` removes) instead of one more file in /tmp for every cluster ever made.
        server = hashlib.md5(self.api_client.configuration.host.encode(), usedforsecurity=False).hexdigest()
        self._discovery_cache = kubeconfig.parent / f"discovery-{server}.json"

    @cached_property
    def core(self):
        """The typed core API, for exec, logs and nodes. Made on first use: importing it builds some 250 model
        classes (most of a second), which applying and waiting through the dynamic client never need."""
        from kubernetes import client

        return client.CoreV1Api(self.api_client)

    @property
    def dynamic(self):
        """Discovery on first use: a client whose credentials the server refuses still gets its answer (401)."""
        with self._discovery:
            if self._dynamic is None:
                from kubernetes import dynamic

                with api_errors("discover the API"):
                    self._dynamic = dynamic.DynamicClient(self.api_client, cache_file=str(self._discovery_cache))
            return self._dynamic

    def _resource(self, api_version: str, kind: str):
        with self._discovery:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def apply(self, doc: dict, settle: float = 10.0) -> None:
        """Server-side apply. A namespace's default ServiceAccount appears a moment after the namespace (the
        controller-manager makes it), so a pod applied right after is retried briefly, as kubectl users do."""
        from kubernetes.dynamic.exceptions import DynamicApiError

        meta = doc["metadata"]
        where = f"apply {doc['kind']} {meta.get('namespace', '') + '/' if meta.get('namespace') else ''}{meta['name']}"
        deadline = time.monotonic() + settle
        with api_errors(where):
            resource = self._resource(doc["apiVersion"], doc["kind"])
            doc, kwargs = _placed(resource, doc)
            while True:
                try:
                    resource.server_side_apply(body=doc, name=meta["name"], field_manager=FIELD_MANAGER, force_conflicts=True, **kwargs)
                    return
                except DynamicApiError as exc:
                    if "serviceaccount" not in _api_message(exc).lower() or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def apply_at(self, path: str, doc: dict) -> tuple[int, dict | None]:
        """Server-side apply to a path known without discovery, answered as call() answers. A booting API server
        takes CRDs at their path a second or more before its discovery lists their group."""
        return self.call("PATCH", path, doc, [("fieldManager", FIELD_MANAGER), ("force", "true")], "application/apply-patch+yaml")

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, body, content_type: str) -> dict:
        """A JSON, merge or strategic-merge patch, as `kubectl patch --type json|merge|strategic` sends it."""
        with api_errors(f"patch {kind} {namespace + '/' if namespace else ''}{name}"):
            resource = self._resource(api_version, kind)
            kwargs = {"namespace": namespace} if resource.namespaced else {}
            return resource.patch(body=body, name=name, content_type=content_type, field_manager=FIELD_MANAGER, **kwargs).to_dict()

    def admission(self, doc: dict) -> tuple[bool, int, str]:
        """A server-side dry-run apply (`kubectl apply --server-side --dry-run=server`): the object goes through
        validation and every admission webhook but is not stored. (admitted, HTTP status, the server's message)."""
        from kubernetes.dynamic.exceptions import DynamicApiError

        meta = doc["metadata"]
        with api_errors(f"dry-run apply {doc['kind']} {meta['name']}"):
            resource = self._resource(doc["apiVersion"], doc["kind"])
            doc, kwargs = _placed(resource, doc)
            try:
                resource.server_side_apply(body=doc, name=meta["name"], field_manager=FIELD_MANAGER, force_conflicts=True,
                                           dry_run="All", **kwargs)
                return True, 200, ""
            except DynamicApiError as exc:
                return False, int(getattr(exc, "status", 0) or 0), _api_message(exc)

    def known(self, api_version: str, kind: str) -> bool:
        """Whether the API server serves this kind (a CRD's kind only once the CRD is established)."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        with api_errors(f"discover {kind}"):
            try:
                self._resource(api_version, kind)
            except ResourceNotFoundError:
                return False
        return True

    def list(self, api_version: str, kind: str, namespace: str | None = None, selector: str | None = None) -> list[dict]:
        with api_errors(f"list {kind}"):
            resource = self._resource(api_version, kind)
            kwargs = {"namespace": namespace} if namespace and resource.namespaced else {}
            if selector:
                kwargs["label_selector"] = selector
            # List items carry no kind; the emulation reads them as the manifests it would have been given.
            return [{**item.to_dict(), "apiVersion": api_version, "kind": kind} for item in resource.get(**kwargs).items]

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict:
        with api_errors(f"read {kind} {name}"):
            resource = self._resource(api_version, kind)
            kwargs = {"namespace": namespace} if resource.namespaced else {}
            return resource.get(name=name, **kwargs).to_dict()

    def secret_values(self, namespace: str, name: str, *keys: str) -> list[bytes]:
        """Keys of a Secret, decoded, from one read; a missing key is named with the keys the Secret has."""
        import base64

        data = self.get("v1", "Secret", name, namespace).get("data") or {}
        for key in keys:
            if key not in data:
                raise RuntimeFailure(f"Secret {namespace}/{name} has no key {key} (keys: {', '.join(sorted(data)) or 'none'})")
        return [base64.b64decode(data[key]) for key in keys]

    def delete_labelled(self, api_version: str, kind: str, selector: str) -> list[str]:
        """Delete the objects of a kind that carry the labels; none of a kind whose CRD is not (or no longer)
        installed: a fresh cluster has no MetalLB objects to delete before MetalLB's CRDs are applied."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        removed = []
        with api_errors(f"delete {kind} labelled {selector}"):
            try:
                resource = self._resource(api_version, kind)
            except ResourceNotFoundError:
                return []
            for item in resource.get(label_selector=selector).items:
                kwargs = {"namespace": item.metadata.namespace} if resource.namespaced else {}
                if not item.metadata.deletionTimestamp:  # a terminating namespace refuses a second delete (409)
                    resource.delete(name=item.metadata.name, **kwargs)
                removed.append(f"{kind} {item.metadata.namespace + '/' if resource.namespaced else ''}{item.metadata.name}")
        return removed

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> str:
        with api_errors(f"delete {kind} {name}"):
            resource = self._resource(api_version, kind)
            resource.delete(name=name, **({"namespace": namespace} if resource.namespaced else {}))
        return f"{kind} {namespace + '/' if namespace and resource.namespaced else ''}{name}"

    def labelled(self, api_version: str, kind: str, selector: str) -> list[dict]:
        """The objects of a kind that carry the labels; none of a kind whose CRD went (the API answers 404)."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        try:
            return [item.to_dict() for item in self._resource(api_version, kind).get(label_selector=selector).items]
        except (ResourceNotFoundError, NotFoundError):
            return []
        except ApiException as exc:
            if exc.status == 404:
                return []
            raise

    def wait_deleted(self, kinds: list[tuple[str, str]], selector: str, timeout: float) -> None:
        """Until no object of these kinds carries the labels (a namespace once the controller-manager emptied it)."""
        def probe():
            left = [f"{kind} {item['metadata']['name']}" for api_version, kind in kinds for item in self.labelled(api_version, kind, selector)]
            return not left, ", ".join(left)

        wait_until(f"objects labelled {selector} to be deleted", probe, timeout, interval=1.0)

    def wait_nodes_ready(self, timeout: float) -> None:
        def probe():
            nodes = self.core.list_node().items
            not_ready = [n.metadata.name for n in nodes if not any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
            return bool(nodes) and not not_ready, f"not ready: {', '.join(not_ready)}" if nodes else "no nodes"

        wait_until("all nodes Ready", probe, timeout)

    def wait_for(self, what: str, api_version: str, kind: str, name: str, namespace: str | None,
                 ready: Callable[[dict], tuple[bool, str]], timeout: float) -> None:
        """Until `ready(object)` says so (a condition, a rollout, a field): read again whenever it changes, and
        on a backed-off poll besides."""
        def probe():
            return ready(self.get(api_version, kind, name, namespace))

        with object_changes(self, api_version, kind, name, namespace) as changed:
            wait_until(what, probe, timeout, changed=changed)

    def exec(self, namespace: str, pod: str, argv: list[str], container: str | None = None, timeout: float = 60) -> tuple[int, str, str]:
        from kubernetes.stream import stream

        with api_errors(f"exec in pod {namespace}/{pod}"):
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
            timed_out = resp.is_open()
            resp.close()
        if timed_out:
            # The channel's return code is unset (the client raises TypeError reading it): say what happened.
            raise RuntimeFailure(f"exec in pod {namespace}/{pod} did not finish within {timeout:.0f}s: {' '.join(argv)[:200]}")
        try:
            code = resp.returncode
        except (TypeError, ValueError):
            code = None
        return (code if code is not None else -1), "".join(out), "".join(err)

    def pods(self, namespace: str, selector: str, node: str | None = None) -> list[str]:
        kwargs = {"field_selector": f"spec.nodeName={node}"} if node else {}
        with api_errors(f"list pods in {namespace}"):
            return [p.metadata.name for p in self.core.list_namespaced_pod(namespace, label_selector=selector, **kwargs).items]

    def pod_node(self, namespace: str, name: str) -> str:
        with api_errors(f"read pod {namespace}/{name}"):
            return self.core.read_namespaced_pod(name, namespace).spec.node_name

    def logs(self, namespace: str, pod: str, container: str | None = None) -> str:
        with api_errors(f"logs of pod {namespace}/{pod}"):
            return self.core.read_namespaced_pod_log(pod, namespace, container=container, timestamps=True)

    def approve_csr(self, name: str, reason: str, message: str) -> None:
        """`kubectl certificate approve`: an Approved condition on the CSR's approval subresource."""
        from kubernetes import client

        api = client.CertificatesV1Api(self.api_client)
        with api_errors(f"approve CertificateSigningRequest {name}"):
            csr = api.read_certificate_signing_request(name)
            conditions = [c for c in (csr.status.conditions or []) if c.type != "Approved"]
            conditions.append(client.V1CertificateSigningRequestCondition(type="Approved", status="True", reason=reason, message=message))
            csr.status.conditions = conditions
            api.replace_certificate_signing_request_approval(name, csr)

    def can_i(self, verb: str, resource: str, namespace: str | None, group: str = "", name: str | None = None) -> tuple[int, bool, str]:
        """`kubectl auth can-i` as this client's user: (HTTP status, allowed, the authorizer's reason)."""
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {k: v for k, v in {"verb": verb, "resource": resource, "namespace": namespace,
                                                                   "group": group, "name": name}.items() if v is not None}}}
        status, answer = self.call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body)
        result = (answer or {}).get("status")
        if not isinstance(result, dict):  # a refused review is a Status object: its `status` is "Failure"
            return status, False, str((answer or {}).get("message", ""))
        return status, bool(result.get("allowed")), str(result.get("reason", ""))

    def call(self, method: str, path: str, body: dict | None = None, query: list | None = None,
             content_type: str = "application/json") -> tuple[int, dict | None]:
        """One real request as this client's user: (HTTP status, the decoded body); refusals are answers here.
        The body is JSON as the API serves it, not the typed models (building those costs CPU on every call)."""
        from kubernetes.client.exceptions import ApiException

        try:
            request = self.api_client.param_serialize(method=method, resource_path=path, query_params=query or [], body=body,
                                                      header_params={"Content-Type": content_type, "Accept": "application/json"},
                                                      auth_settings=["BearerToken"])
            response = self.api_client.call_api(*request[:2], header_params=request[2], body=request[3], post_params=request[4])
            response.read()
            return response.status, _answer(response.data)
        except ApiException as exc:
            try:
                return exc.status, json.loads(exc.body)
            except (TypeError, ValueError):
                return exc.status, {"message": str(exc.reason)}
        except (OSError, TimeoutError) as exc:
            raise RuntimeFailure(f"{method} {path}: cannot reach the API server: {str(exc).splitlines()[0][:200]}") from None

    def watch(self, path: str, query: list, timeout: int = 300) -> "WatchStream":
        """A watch on a collection (`query` narrows it, e.g. a fieldSelector), opened now: a refused watch raises
        RuntimeFailure with the server's message. The server ends it after `timeout` seconds at most."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        what = f"watch {path}"
        try:
            request = self.api_client.param_serialize(method="GET", resource_path=path, auth_settings=["BearerToken"],
                                                      query_params=[*query, ("watch", "true"), ("timeoutSeconds", str(timeout))],
                                                      header_params={"Accept": "application/json"})
            response = self.api_client.call_api(*request[:2], header_params=request[2], _request_timeout=(5, timeout + 5)).response
        except ApiException as exc:
            raise RuntimeFailure(f"{what}: the API server refused it ({exc.status}): {_api_message(exc)[:300]}") from None
        except (OSError, TimeoutError, HTTPError) as exc:
            raise RuntimeFailure(f"{what}: cannot reach the API server: {str(exc).splitlines()[0][:200]}") from None
        if response.status >= 400:
            answer = _answer(response.data)
            response.release_conn()
            raise refusal(what, response.status, answer)
        return WatchStream(response, what)


@contextlib.contextmanager
def object_changes(kube: KubeApi, api_version: str, kind: str, name: str, namespace: str | None):
    """An Event set whenever the object changes (is made, updated, deleted), from a watch in a thread, as
    `kubectl wait` watches rather than polls. Best effort: if the watch cannot be opened the Event is
    never set and the caller's own polling carries on."""
    changed = threading.Event()
    streams: list[WatchStream] = []
    done = threading.Event()
    try:  # here, not in the thread: discovery is not made for two threads at once
        resource = kube._resource(api_version, kind)
        path = resource.path(namespace=namespace) if resource.namespaced and namespace else resource.path()
    except Exception:  # noqa: BLE001 - a kind not served yet: the caller's polling says so in time
        path = None

    def follow() -> None:
        try:
            stream = kube.watch(path, [("fieldSelector", f"metadata.name={name}")])
            streams.append(stream)
            if done.is_set():
                stream.stop()
            for _event in stream:
                changed.set()
        except Exception:  # noqa: BLE001 - the wait polls anyway
            return

    if path is not None:
        threading.Thread(target=follow, name=f"watch-{kind}-{name}"[:40], daemon=True).start()
    try:
        yield changed
    finally:
        done.set()
        for stream in streams:
            stream.stop()
