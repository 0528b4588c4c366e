"""The Kubernetes client's failures as answers: a lab API server that does not answer is said in a line, never
as a library exception with its connection pool's repr."""

from __future__ import annotations

import pytest
from urllib3.exceptions import MaxRetryError, NewConnectionError

from orchestrator.errors import RuntimeFailure
from orchestrator.providers.kube import api_errors


def test_urllib3_giving_up_is_an_api_server_that_cannot_be_reached():
    cause = NewConnectionError(object(), "Failed to establish a new connection: [Errno 111] Connection refused")  # "<object at 0x..>: ..." as a connection prints
    with pytest.raises(RuntimeFailure) as raised:
        with api_errors("list Pod"):
            raise MaxRetryError(None, "/api/v1/pods", cause)
    assert raised.value.message == "list Pod: cannot reach the API server: Failed to establish a new connection: [Errno 111] Connection refused"


def test_a_refused_connection_is_said_the_same_way():
    with pytest.raises(RuntimeFailure, match=r"^read Secret x: cannot reach the API server: \[Errno 111\] Connection refused$"):
        with api_errors("read Secret x"):
            raise ConnectionRefusedError(111, "Connection refused")


def test_discovery_is_asked_by_one_thread_at_a_time(tmp_path):
    """The Kubernetes client's discovery fills its cache lazily and not thread-safely (two threads loading a
    group at once met a half-filled cache: KeyError 'resources'); checks side by side each list Cilium's kinds."""
    import threading
    import time
    from types import SimpleNamespace

    from orchestrator.providers.kube import KubeApi

    inside, most = [0], [0]

    def get(api_version, kind):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.05)  # a group's resources fetched from the API server
        inside[0] -= 1
        return SimpleNamespace(kind=kind)

    kube = KubeApi.__new__(KubeApi)  # no kubeconfig: only discovery is exercised
    kube._discovery = threading.RLock()
    kube._dynamic = SimpleNamespace(resources=SimpleNamespace(get=get))
    threads = [threading.Thread(target=kube._resource, args=("cilium.io/v2", kind))
               for kind in ("CiliumNetworkPolicy", "CiliumClusterwideEnvoyConfig", "CiliumNetworkPolicy")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert most[0] == 1
