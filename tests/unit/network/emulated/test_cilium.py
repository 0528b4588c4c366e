"""The emulated Cilium before a command in a pod: it follows the API server every time, and samples Envoy's
counters in the redirected pod once for commands that start side by side (each still after a sample)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from orchestrator.network.emulated.cilium import EmulatedCilium
from orchestrator.network.emulated.proxy import CiliumProxy, Sample

REDIRECTED = "lab-demo-curl"


class Proxy(CiliumProxy):
    """Envoy's counters, read slowly (an exec in the pod takes about 0.1 s); the rest is the real proxy's."""

    def __init__(self):
        super().__init__(None, "lab-demo-envoy", {}, "envoy:1")
        self.calls: list[str] = []

    def sample(self, container: str) -> Sample:
        self.calls.append(container)
        time.sleep(0.2)
        taken = Sample(time.time(), {15000: len(self.calls)}, {})
        self.samples.append(taken)
        return taken


def plugin(tmp_path) -> tuple[EmulatedCilium, Proxy, list]:
    host = SimpleNamespace(instance=SimpleNamespace(state_dir=tmp_path, name="demo"))
    cilium = EmulatedCilium(host)
    followed: list[float] = []
    cilium.follow = lambda: followed.append(time.time())
    proxy = cilium.__dict__["proxy"] = Proxy()
    with cilium.record.held() as data:
        data["redirected_pod"] = REDIRECTED
    return cilium, proxy, followed


def side_by_side(cilium: EmulatedCilium, containers: list[str]) -> list[float]:
    """before_exec in one thread per container, all at once; when each returned (its traffic may start then)."""
    returned: list[float] = []
    start = threading.Barrier(len(containers))

    def one(container: str) -> None:
        start.wait()
        cilium.before_exec(container)
        returned.append(time.time())

    threads = [threading.Thread(target=one, args=(c,)) for c in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return returned


def test_commands_side_by_side_share_one_sample_taken_before_all_their_traffic(tmp_path):
    cilium, proxy, followed = plugin(tmp_path)
    returned = side_by_side(cilium, [REDIRECTED] * 3)
    assert proxy.calls == [REDIRECTED]  # one sample, not three one after another
    assert len(followed) == 3  # but each command followed the API server itself
    assert all(proxy.samples[0].at <= at for at in returned)  # every command's traffic comes after the sample


def test_a_later_command_samples_again_and_other_pods_never_do(tmp_path):
    cilium, proxy, _ = plugin(tmp_path)
    cilium.before_exec(REDIRECTED)
    cilium.before_exec(REDIRECTED)  # asked after the last sample: that one may predate traffic it must not count
    assert proxy.calls == [REDIRECTED, REDIRECTED]
    side_by_side(cilium, ["lab-demo-web", "lab-demo-db"])
    assert proxy.calls == [REDIRECTED, REDIRECTED]
