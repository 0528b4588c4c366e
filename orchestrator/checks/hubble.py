"""`hubble`: flows that must exist (e.g. `trace:to-proxy` for redirected traffic), counted only from the
moment the check began, so flows of earlier stages or runs never make it pass."""

from __future__ import annotations

import datetime as dt
from typing import Any

from orchestrator.checks.base import Observation
from orchestrator.network.base import FlowQuery
from orchestrator.spec.model import Check

VERDICTS = ["FORWARDED", "DROPPED", "ERROR", "AUDIT", "REDIRECTED", "TRACED", "TRANSLATED"]


class HubbleCheck:
    name = "hubble"
    runs_in_pod = False  # it reads flows; the pod it filters on is `pod`
    required = ("expect",)
    params = {
        "namespace": {"type": "string", "minLength": 1, "maxLength": 63},
        "pod": {"type": "string", "minLength": 1, "maxLength": 253},
        "toIp": {"type": "string", "minLength": 1},
        "toPort": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": 65535},
        "toPod": {"type": "string", "minLength": 1, "maxLength": 253},
        "toLabel": {"type": "string", "minLength": 1, "maxLength": 1024},  # the destination pods' labels (a Deployment's)
        "flowType": {"type": "string", "pattern": "^[a-z0-9-]+(:[a-z0-9-]+)?$"},
        "verdict": {"enum": VERDICTS},
        "httpMethod": {"type": "string"},
        "httpPath": {"type": "string"},
    }
    expect = {
        "flows": {"type": "integer", "minimum": 0},
        # one verdict, or several any of which will do (Hubble reports a to-proxy trace as FORWARDED or REDIRECTED)
        "verdict": {"oneOf": [{"enum": VERDICTS}, {"type": "array", "minItems": 1, "items": {"enum": VERDICTS}}]},
    }

    def problems(self, params: dict, expect: dict) -> list[tuple[str, str]]:
        return [] if expect else [("expect", "say what to expect (flows, verdict)")]

    def side_by_side(self, check: Check) -> bool:
        return False  # it counts the flows the checks before it in its stage made

    def is_refusal(self, expect: dict) -> bool:
        return set(_verdicts(expect)) <= {"DROPPED", "ERROR"} and bool(_verdicts(expect))

    def summary(self, seen: dict) -> str:
        verdicts = ",".join(seen.get("verdicts", []))
        return f"flows={seen.get('flows', 0)}" + (f" ({verdicts})" if verdicts else "")

    def expectations(self, expect: dict) -> list[str]:
        verdicts = _verdicts(expect)
        return [f"at least {expect.get('flows', 1)} flow(s) since the step began" + (f", with verdict {' or '.join(verdicts)}" if verdicts else "")]

    def by_hand_in(self, check: Check, runtime: str) -> list[str] | None:
        """Where a participant runs it: in the Cilium agent on the node of the pod the flows come from (the one
        that saw them, as the kind runtime asks), or any agent; None where Cilium is emulated (no agent, no CLI)."""
        if runtime != "kind":
            return None
        p = check.params
        agent = "ds/cilium"
        if p.get("pod"):
            node = f"$(kubectl get pod -n {p.get('namespace', 'default')} {p['pod']} -o jsonpath='{{.spec.nodeName}}')"
            agent = f"$(kubectl -n kube-system get pod -l k8s-app=cilium --field-selector spec.nodeName={node} -o name)"
        return ["kubectl", "-n", "kube-system", "exec", agent, "-c", "cilium-agent", "--"]

    def argv(self, check: Check, since: float) -> list[str]:
        p = check.params
        argv = ["hubble", "observe", "--output", "json", "--since", _rfc3339_milli(since)]
        if p.get("pod"):
            argv += ["--from-pod", f"{p.get('namespace', 'default')}/{p['pod']}"]
        elif p.get("namespace"):
            argv += ["--from-namespace", str(p["namespace"])]
        if p.get("toPod"):
            argv += ["--to-pod", f"{p.get('namespace', 'default')}/{p['toPod']}"]
        if p.get("toLabel"):
            argv += ["--to-label", str(p["toLabel"])]
        if p.get("toIp"):
            argv += ["--to-ip", str(p["toIp"])]
        if p.get("toPort"):
            argv += ["--to-port", str(p["toPort"])]
        if p.get("flowType"):
            argv += ["--type", str(p["flowType"])]
        if p.get("verdict"):
            argv += ["--verdict", p["verdict"]]
        if p.get("httpMethod"):
            argv += ["--http-method", p["httpMethod"]]
        if p.get("httpPath"):
            argv += ["--http-path", p["httpPath"]]
        return argv

    def commands(self, check: Check) -> list[list[str]]:
        argv = self.argv(check, 0)
        at = argv.index("--since")
        return [argv[:at] + ["--last", "100"] + argv[at + 2:]]

    def attempt(self, check: Check, runtime, timeout: float, since: float) -> Observation:
        flows = runtime.network.flows(FlowQuery(tuple(self.argv(check, since)), dict(check.params), since))
        seen: dict[str, Any] = {"flows": flows.count, "source": flows.source}
        if flows.verdicts:
            seen["verdicts"] = sorted(set(flows.verdicts))
        problems = []
        wanted = check.expect.get("flows", 1)
        accepted = _verdicts(check.expect)
        counted = sum(1 for v in flows.verdicts if v in accepted) if accepted else flows.count
        kind = f"{check.params['flowType']} " if check.params.get("flowType") else ""
        if counted < wanted:
            verdict = f" with verdict {' or '.join(accepted)}" if accepted else ""
            problems.append(f"{counted} {kind}flow(s){verdict} seen since this stage began ({flows.count} in all), expected at least {wanted}")
        return Observation(seen, problems, output=flows.output)


def _rfc3339_milli(when: float) -> str:
    """hubble's RFC3339Milli form: whole seconds would count an earlier stage's flows of the same second."""
    moment = dt.datetime.fromtimestamp(when, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _verdicts(expect: dict) -> list[str]:
    verdict = expect.get("verdict", [])
    return [verdict] if isinstance(verdict, str) else list(verdict)
