"""The Star Wars demo's pods and Cilium on kind's nodes (which cannot run here), for the kind runtime's contract:
curl in a ship answers as the Death Star and Cilium would under the CiliumNetworkPolicy the lab applied last, and
`hubble observe` in the agent prints the flows those requests made, honouring its filters and `--since`.

The policy is read from the objects the runtime applied, never from the lab's spec: a runtime that applied the
wrong policy, or none, gets the answers of that cluster. The texts are the demo's and Cilium's own (the Cilium
guide, and the docker runtime's tests against the stand-in Death Star and a real Envoy)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from urllib.parse import urlsplit

STATUS_MARK = "\n__lab_http_status__:"
PANIC = "Panic: deathstar exploded\n\ngoroutine 1 [running]:\nmain.HandleGarbage(0x2080c3f50, 0x2, 0x4, 0x425c0, 0x5, 0xa)\n"


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _parse_since(text: str) -> float:
    """hubble's absolute forms that a UTC timestamp can take (RFC3339, RFC3339Milli/Micro/Nano); anything else is
    refused as hubble refuses it."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?Z", text)
    if not match:
        raise AssertionError(f"hubble: invalid --since {text!r}")
    whole = dt.datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp()
    return whole + float(match[2] or 0)


class StarWarsCluster:
    def __init__(self, applied: list[dict], enforce: bool = True):
        self.applied = applied  # FakeKube.applied: what the runtime sent, in order
        self.enforce = enforce  # False: a cluster whose Cilium enforces nothing
        self.flows: list[dict] = []

    def _doc(self, kind: str, name: str) -> dict | None:
        return next((d for d in reversed(self.applied) if d["kind"] == kind and d["metadata"]["name"] == name), None)

    def _labels_of(self, pod: str) -> dict:
        doc = self._doc("Pod", pod)
        assert doc, f"exec in pod {pod}, which the runtime never applied"
        return doc["metadata"].get("labels") or {}

    def _backend_labels(self, host: str) -> dict:
        service = self._doc("Service", host.split(".")[0])
        assert service, f"curl to {host}: no such Service was applied"
        selector = service["spec"]["selector"]
        deployment = next(d for d in self.applied if d["kind"] == "Deployment"
                          and _matches({"matchLabels": selector}, d["spec"]["template"]["metadata"]["labels"]))
        return deployment["spec"]["template"]["metadata"]["labels"]

    def _policies(self, backend: dict) -> list[dict]:
        """The policies selecting the backend; each name as last applied (server-side apply: the last one wins)."""
        latest = {d["metadata"]["name"]: d for d in self.applied if d["kind"] == "CiliumNetworkPolicy"}.values()
        return [p for p in latest if _matches(p["spec"]["endpointSelector"], backend)] if self.enforce else []

    def _verdict(self, source: dict, backend: dict, method: str, path: str) -> str:
        """FORWARDED, DROPPED (L3/L4) or DENIED (L7), as Cilium decides for ingress to the backend."""
        selecting = self._policies(backend)
        if not selecting:
            return "FORWARDED"
        for policy in selecting:
            for rule in policy["spec"].get("ingress", []):
                if not any(_matches(peer, source) for peer in rule.get("fromEndpoints", [])):
                    continue
                for port in rule.get("toPorts", []):
                    if not any(p["port"] == "80" and p.get("protocol", "TCP") == "TCP" for p in port["ports"]):
                        continue
                    http = (port.get("rules") or {}).get("http")
                    if http is None or any(re.fullmatch(r.get("method", ".*"), method) and re.fullmatch(r.get("path", ".*"), path)
                                           for r in http):
                        return "FORWARDED"
                    return "DENIED"
        return "DROPPED"

    def __call__(self, namespace: str, pod: str, argv: list[str]) -> tuple[int, str, str]:
        if argv[0] == "curl":
            return self._curl(namespace, pod, argv)
        if argv[0] == "hubble":
            return self._observe(argv)
        raise AssertionError(f"unexpected exec in {namespace}/{pod}: {argv}")

    def _curl(self, namespace: str, pod: str, argv: list[str]) -> tuple[int, str, str]:
        method = argv[argv.index("-X") + 1] if "-X" in argv else "GET"
        url = urlsplit(argv[-1])
        source, backend = self._labels_of(pod), self._backend_labels(url.hostname)
        verdict = self._verdict(source, backend, method, url.path)
        flow = {"time": time.time(), "source": f"{namespace}/{pod}", "backend": backend, "method": method, "path": url.path}
        if verdict == "DROPPED":
            self.flows.append({**flow, "verdict": "DROPPED", "type": "L3_L4"})
            seconds = int(argv[argv.index("--max-time") + 1])
            return 28, STATUS_MARK + "000", f"curl: (28) Connection timed out after {seconds * 1000 + 1} milliseconds"
        l7 = any("rules" in json.dumps(p["spec"]) for p in self._policies(backend))  # through Cilium's proxy
        if verdict == "DENIED":
            self.flows.append({**flow, "verdict": "DROPPED", "type": "L7"})
            return 0, "Access denied\n" + STATUS_MARK + "403", ""
        self.flows.append({**flow, "verdict": "FORWARDED", "type": "L7" if l7 else "L3_L4"})
        if (method, url.path) == ("POST", "/v1/request-landing"):
            return 0, "Ship landed\n" + STATUS_MARK + "200", ""
        if (method, url.path) == ("PUT", "/v1/exhaust-port"):
            return 0, PANIC + STATUS_MARK + "503", ""
        return 0, "404 page not found\n" + STATUS_MARK + "404", ""

    def _observe(self, argv: list[str]) -> tuple[int, str, str]:
        option = lambda name: argv[argv.index(name) + 1] if name in argv else None
        assert argv[:4] == ["hubble", "observe", "--output", "json"], argv
        since = _parse_since(option("--since"))
        to_label = option("--to-label")
        lines = []
        for flow in self.flows:
            if flow["time"] < since or (option("--from-pod") and flow["source"] != option("--from-pod")):
                continue
            if to_label and flow["backend"].get(to_label.split("=")[0]) != to_label.split("=")[1]:
                continue
            if option("--verdict") and flow["verdict"] != option("--verdict"):
                continue
            if option("--type") and flow["type"] != option("--type").upper():
                continue
            if option("--http-method") and (flow["type"] != "L7" or flow["method"] != option("--http-method")):
                continue
            if option("--http-path") and (flow["type"] != "L7" or not re.fullmatch(option("--http-path"), flow["path"])):
                continue
            namespace, pod = flow["source"].split("/")
            record = {"verdict": flow["verdict"], "Type": flow["type"],
                      "source": {"namespace": namespace, "pod_name": pod},
                      "destination": {"namespace": "default", "pod_name": "deathstar-6fb5694d48-5hmds",
                                      "labels": [f"k8s:{k}={v}" for k, v in sorted(flow["backend"].items())]}}
            if flow["verdict"] == "DROPPED" and flow["type"] == "L3_L4":
                record["drop_reason_desc"] = "POLICY_DENIED"
            if flow["type"] == "L7":
                record["l7"] = {"type": "REQUEST", "http": {"method": flow["method"], "url": f"http://deathstar.default.svc.cluster.local{flow['path']}"}}
            stamp = dt.datetime.fromtimestamp(flow["time"], dt.timezone.utc).isoformat()
            lines.append(json.dumps({"flow": {"time": stamp, **record}, "node_name": "starwars-policy-worker", "time": stamp}))
        return 0, "".join(line + "\n" for line in lines), ""
