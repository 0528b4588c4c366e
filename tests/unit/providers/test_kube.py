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
