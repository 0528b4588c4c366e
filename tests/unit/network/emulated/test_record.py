"""The emulated Cilium's record: shared by the lab's commands and the node agent's loop under one lock, written
back when the outermost hold ends, and refused whole when it is not what lab writes."""

from __future__ import annotations

import json
import multiprocessing
import os
import time

import pytest

from orchestrator.errors import BadInput
from orchestrator.network.emulated.record import CiliumRecord


def test_a_hold_writes_back_what_changed_and_nested_holds_share_it(tmp_path):
    record = CiliumRecord(tmp_path, "demo")
    with record.held() as data:
        data["redirected_pod"] = "lab-demo-curl"
        with record.held() as inner:  # a follow inside an exec: the same lock, the same data
            assert inner is data and record.current is data
            inner["cilium_seen"] = "a" * 64
        assert not (tmp_path / "cilium.json").exists()  # written once, when the outermost hold ends
    assert json.loads((tmp_path / "cilium.json").read_text()) == {"redirected_pod": "lab-demo-curl", "cilium_seen": "a" * 64}
    assert oct((tmp_path / "cilium.json").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(RuntimeError, match="outside a hold"):
        record.current


def test_what_a_failed_block_made_is_still_recorded(tmp_path):
    record = CiliumRecord(tmp_path, "demo")
    with pytest.raises(ValueError):
        with record.held() as data:
            data["redirected_pod"] = "lab-demo-curl"
            raise ValueError("Envoy did not start")
    assert json.loads((tmp_path / "cilium.json").read_text())["redirected_pod"] == "lab-demo-curl"


def _hold_for(directory: str, seconds: float, started) -> None:
    with CiliumRecord(__import__("pathlib").Path(directory), "demo").held() as data:
        started.set()
        time.sleep(seconds)
        data["cilium_seen"] = "b" * 64


def test_another_process_waits_for_the_hold_and_then_sees_its_result(tmp_path):
    started = multiprocessing.get_context("fork").Event()
    other = multiprocessing.get_context("fork").Process(target=_hold_for, args=(str(tmp_path), 0.5, started))
    other.start()
    assert started.wait(10)
    begun = time.monotonic()
    with CiliumRecord(tmp_path, "demo").held() as data:
        waited = time.monotonic() - begun
        assert data == {"cilium_seen": "b" * 64}
    other.join(10)
    assert waited > 0.3, "the second hold did not wait for the first"


@pytest.mark.parametrize("content, expected", [
    ("{not json", "not a record lab wrote"),
    (json.dumps({"redirected_pod": "lab-other-curl"}), "not this instance's"),
    (json.dumps({"policy_pods": [{"container": "postgres", "namespace": "default", "pod": "x", "labels": {}}]}), "policy_pods.0.container"),
    (json.dumps({"delete_everything": True}), "Additional properties"),
    (json.dumps({"cilium_seen": "$(reboot)"}), "cilium_seen"),
])
def test_a_record_lab_did_not_write_is_refused_whole(tmp_path, content, expected):
    (tmp_path / "cilium.json").write_text(content)
    with pytest.raises(BadInput, match=expected):
        with CiliumRecord(tmp_path, "demo").held():
            pass


def test_a_record_that_is_not_a_regular_file_is_refused(tmp_path):
    os.mkfifo(tmp_path / "cilium.json")
    with pytest.raises(BadInput, match="must be a regular file, not a FIFO"):
        with CiliumRecord(tmp_path, "demo").held():
            pass
