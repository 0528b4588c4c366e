"""The emulated Cilium's agent loop: it follows until stopped, and outlives any one failure, said once."""

from __future__ import annotations

import logging
import threading

from orchestrator.network.emulated.agent import AgentHost, AgentInstance, follow_api


class Plugin:
    def __init__(self, failures: int, stop: list):
        self.calls, self.failures, self.stop = 0, failures, stop

    def follow(self):
        self.calls += 1
        if self.calls >= 6:
            self.stop.append(True)
        if self.calls <= self.failures:
            raise RuntimeError("API server restarting\nsecond line")


def test_the_loop_follows_again_after_a_failure_and_says_it_once(caplog):
    stop: list = []
    plugin = Plugin(failures=3, stop=stop)
    with caplog.at_level(logging.WARNING, "lab.cilium-agent"):
        thread = threading.Thread(target=follow_api, args=(plugin, stop, 0.01))
        thread.start()
        thread.join(10)
    assert not thread.is_alive() and plugin.calls == 6
    assert [r.getMessage() for r in caplog.records] == ["cilium follow: API server restarting"]


def test_the_host_names_pods_as_the_node_does_and_gives_the_roles_images(tmp_path):
    host = AgentHost(None, None, AgentInstance("demo", tmp_path), {"lab.dev/instance": "demo"}, {"proxy": "envoy:1"})
    assert host.pod_container("curl") == "lab-demo-curl"
    assert host.network_image("proxy") == "envoy:1" and host.network_image("datapath") is None
