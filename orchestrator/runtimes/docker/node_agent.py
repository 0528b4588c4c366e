"""The docker runtime's node agent as a process of the instance: started in the background (it registers its
Node once the API answers), found by the pid `up` recorded (its command line proven to be this instance's
agent), or by its command line alone when a crash came before the record, and stopped by `down`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from orchestrator.providers import process

MODULE = "orchestrator.runtimes.docker.node"


class NodeAgent:
    def __init__(self, instance, kubeconfig: Path, network: str, api_host: str, cilium_images: dict[str, str] | None = None):
        self.instance = instance
        self.kubeconfig, self.network, self.api_host = kubeconfig, network, api_host
        self.cilium_images = cilium_images  # the lab has Cilium objects: the agent follows them (network/emulated/agent.py)

    def _ours(self, argv: list[str]) -> bool:
        if MODULE not in argv or "--instance" not in argv[:-1]:
            return False
        return argv[argv.index("--instance") + 1] == self.instance.name

    def pids(self) -> list[int]:
        """The instance's agents: the recorded one if it still is ours, and any other (a crash before the record)."""
        recorded = self.instance.data.get("node_pid")
        found = [recorded] if recorded and (argv := process.command_line(recorded)) and self._ours(argv) else []
        return found + [pid for pid in process.processes(self._ours) if pid not in found]

    def running(self) -> bool:
        return bool(self.pids())

    def start(self) -> None:
        """A new agent, unless one runs already; its pid recorded."""
        if self.running():
            return
        argv = [sys.executable, "-m", MODULE, "--kubeconfig", str(self.kubeconfig), "--instance", self.instance.name,
                "--network", self.network, "--api-host", self.api_host, "--labels", json.dumps(self.instance.labels)]
        if self.cilium_images is not None:
            argv += ["--state-dir", str(self.instance.state_dir), "--follow-cilium", json.dumps(self.cilium_images)]
        package_root = Path(__file__).resolve().parents[3]  # the agent imports the same orchestrator as this process
        self.instance.data["node_pid"] = process.spawn(argv, log_file=self.instance.state_dir / "node.log", env={"PYTHONPATH": str(package_root)})

    def stop(self) -> bool:
        """Every agent of the instance stopped; whether there was one."""
        pids = self.pids()
        process.stop(pids, self.pids)
        self.instance.data.pop("node_pid", None)
        return bool(pids)
