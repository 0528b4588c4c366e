"""The API server starts once etcd serves, as etcd's log of its current run says: read from the end of its
previous run (Docker records a start after the process's first lines when it is busy), never from an earlier
run's lines, and etcd gone or stopped is said with its log."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from orchestrator.errors import RuntimeFailure
from orchestrator.runtimes.docker.control_plane import ETCD_SERVING, ControlPlane

EPOCH = dt.datetime(2026, 12, 6, 3, 0, 0, tzinfo=dt.timezone.utc)


def at(seconds: float) -> str:
    return (EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # Docker's nanoseconds


class Etcd:
    """etcd's container as the engine shows it: its state and its timestamped log, filtered by `since` as
    Docker's log API does. Its serving line appears after `serves_after` reads of the log."""

    def __init__(self, lines: list[tuple[float, str]], started: float, finished: str, serves_after: int = 0, status: str = "running"):
        self.lines, self.serves_after, self.status, self.reads = lines, serves_after, status, []
        self.attrs = {"State": {"StartedAt": at(started), "FinishedAt": finished}}

    def container(self, name: str):
        return SimpleNamespace(name=name, status=self.status, attrs=self.attrs)

    def logs(self, name: str, since: float | None = None) -> str:
        self.reads.append(since)
        shown = [(t, text) for t, text in self.lines if len(self.reads) > self.serves_after or ETCD_SERVING not in text]
        return "".join(f"{at(t)} {text}\n" for t, text in shown if since is None or (EPOCH.timestamp() + t) >= since)


def control_plane(tmp_path, engine) -> ControlPlane:
    return ControlPlane(engine, "demo", "kind", {"lab.dev/instance": "demo"}, {}, tmp_path)


def serving(t: float) -> tuple[float, str]:
    return t, '{"level":"info","msg":"serving client traffic insecurely; this is strongly discouraged!"}'


def test_a_first_run_whose_serving_line_docker_logged_before_its_start_time_is_waited_for_no_longer(tmp_path):
    # the line at 10.05 s, the start recorded at 10.2 s by a busy engine; the container never ran before
    etcd = Etcd([(10.0, '{"msg":"starting an etcd server"}'), serving(10.05)], started=10.2, finished="0001-01-01T00:00:00Z", serves_after=2)
    control_plane(tmp_path, etcd)._wait_etcd(timeout=5)
    assert etcd.reads == [None, None, None]  # read again until it served, each time the whole log (this run's)


def test_a_restarted_etcd_is_read_from_its_last_exit_not_from_the_run_before(tmp_path):
    earlier = [(1.0, '{"msg":"starting an etcd server"}'), serving(1.1)]  # the previous run served too
    etcd = Etcd(earlier + [(50.0, '{"msg":"starting an etcd server"}'), serving(50.1)], started=50.3, finished=at(40.0), serves_after=1)
    control_plane(tmp_path, etcd)._wait_etcd(timeout=5)
    since = EPOCH.timestamp() + 40.0
    assert etcd.reads == [pytest.approx(since), pytest.approx(since)]  # the first read had only the old run's line


def test_etcd_not_running_is_said_with_its_log(tmp_path):
    etcd = Etcd([(1.0, '{"level":"fatal","msg":"cannot access data directory"}')], started=1.0, finished=at(1.2), status="exited")
    with pytest.raises(RuntimeFailure, match="etcd \\(lab-demo-etcd\\) is not running: .*cannot access data directory"):
        control_plane(tmp_path, etcd)._wait_etcd(timeout=5)
