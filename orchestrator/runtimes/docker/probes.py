"""Readiness and liveness probes as the kubelet runs them (delay, period, thresholds), and a liveness restart."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.request

from orchestrator.runtimes.docker.pod_spec import ProbeTrack


class PodProbes:
    """Part of the node (it uses the node's engine and records): what a pod's probes report now."""

    def probe(self, pod: dict, kind: str, ip: str) -> bool:
        """What a readiness or liveness probe reports now, run when due as the kubelet runs it: not before
        initialDelaySeconds, every periodSeconds, switching state after successThreshold or failureThreshold
        results in a row. No probe: ready and alive."""
        probe = pod["spec"]["containers"][0].get(kind)
        if not probe:
            return True
        uid = pod["metadata"]["uid"]
        track = self.probes.setdefault((uid, kind), ProbeTrack(ok=kind == "livenessProbe"))
        now_mono = time.monotonic()
        started = self.started_mono.setdefault(uid, now_mono)
        if now_mono - started < probe.get("initialDelaySeconds", 0) or (track.last and now_mono - track.last < probe.get("periodSeconds", 10)):
            return track.ok
        track.last = now_mono
        result = self.run_probe(pod, probe, ip)
        if result == track.ok:
            track.streak = 0
        else:
            track.streak += 1
            if track.streak >= (probe.get("successThreshold", 1) if result else probe.get("failureThreshold", 3)):
                track.ok, track.streak = result, 0
        return track.ok

    def run_probe(self, pod: dict, probe: dict, ip: str) -> bool:
        name = self.container_name(pod)
        try:
            if "exec" in probe:
                return self.engine.exec(name, probe["exec"]["command"]).returncode == 0
            if "httpGet" in probe:
                get = probe["httpGet"]
                port = get["port"] if isinstance(get["port"], int) else self._named_port(pod, get["port"])
                scheme = get.get("scheme", "HTTP").lower()
                context = ssl._create_unverified_context() if scheme == "https" else None  # as the kubelet: no verification
                with urllib.request.urlopen(f"{scheme}://{ip}:{port}{get.get('path', '/')}", timeout=probe.get("timeoutSeconds", 1),
                                            context=context) as r:
                    return 200 <= r.status < 400
            if "tcpSocket" in probe:
                port = probe["tcpSocket"]["port"]
                port = port if isinstance(port, int) else self._named_port(pod, port)
                with socket.create_connection((ip, port), timeout=probe.get("timeoutSeconds", 1)):
                    return True
        except Exception:  # a failing probe is not ready; it is not the node's error
            return False
        return False

    def restart(self, pod: dict, container) -> None:
        uid = pod["metadata"]["uid"]
        # The grace period, capped: the node runs one loop, and a process that ignores SIGTERM must not stall it.
        self.engine.restart(container, timeout=min(int(pod["spec"].get("terminationGracePeriodSeconds", 30)), 5))
        self.restarts[uid] = self.restarts.get(uid, 0) + 1
        self.started_mono[uid] = time.monotonic()
        for kind in ("readinessProbe", "livenessProbe"):
            self.probes.pop((uid, kind), None)

    def _named_port(self, pod: dict, name: str) -> int:
        for port in pod["spec"]["containers"][0].get("ports") or []:
            if port.get("name") == name:
                return port["containerPort"]
        return 0
