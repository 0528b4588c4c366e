"""`check: {type: KIND, ...}`: a check of the lab's (one of the check kinds of checks/), which the run reports."""

from __future__ import annotations

from typing import Any

from orchestrator.lifecycle.steps.base import ByHand, Plain, SpecView
from orchestrator.spec.model import DEFAULT_CHECK_INTERVAL, DEFAULT_CHECK_TIMEOUT, REFUSAL_CHECK_TIMEOUT, Check, PodRef


def pod_ref(raw: Any) -> PodRef | None:
    """`from:` as written: `name`, `namespace/name`, or {namespace, name, selector}."""
    if raw is None:
        return None
    if isinstance(raw, str):
        namespace, _, name = raw.rpartition("/")
        return PodRef(namespace or None, name)
    return PodRef(raw.get("namespace"), raw.get("name"), raw.get("selector"))


def compact(value, prefix: str = "") -> str:
    """An expectation as a person reads it: `status=200, json.headers.x=y, verdict=FORWARDED|REDIRECTED`."""
    if isinstance(value, dict):
        return ", ".join(compact(v, f"{prefix}{k}.") for k, v in value.items()) or f"{prefix.rstrip('.')}={{}}"
    if isinstance(value, list):
        return f"{prefix.rstrip('.')}=" + "|".join(_scalar(v) for v in value)
    return f"{prefix.rstrip('.')}={_scalar(value)}" if prefix else _scalar(value)


def _scalar(value) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f'"{text}"' if not text or any(c.isspace() or c in ',|="' for c in text) else text


class CheckStep(Plain):
    name = "check"
    verb = "check"
    schema = {"$ref": "#/$defs/check"}  # assembled from the check kinds
    changes_cluster = False

    def problems(self, value, spec: SpecView) -> list[tuple[str, str]]:
        found = []
        if "user" in value and value["user"] not in spec.users:
            found.append((".user", f"no earlier step makes user '{value['user']}' (users: {', '.join(sorted(spec.users)) or 'none'})"))
        found += [(".runtimes", f"'{runtime}' is not one of the lab's runtimes") for runtime in value.get("runtimes", []) if runtime not in spec.runtimes]
        found += [(f".{field}", message) for field, message in spec.checks.get(value["type"]).problems(value, value.get("expect", {}))]
        return found

    def build(self, value, step_name: str, registries) -> Check:
        params = {k: v for k, v in value.items() if k not in ("type", "expect", "timeout", "interval", "runtimes", "from")}
        expect = dict(value.get("expect", {}))
        # A check that expects a refusal passes at once when things work; retrying it long only delays failure.
        refusal = registries.checks.get(value["type"]).is_refusal(expect)
        return Check(type=value["type"], params=params, expect=expect,
                     timeout=float(value.get("timeout", REFUSAL_CHECK_TIMEOUT if refusal else DEFAULT_CHECK_TIMEOUT)),
                     interval=float(value.get("interval", DEFAULT_CHECK_INTERVAL)), runtimes=tuple(value.get("runtimes", ())),
                     source=pod_ref(value.get("from")))

    def run(self, step, run) -> None:
        self.record(step, run, self.observe(step, run))

    def record(self, step, run, result) -> None:
        from orchestrator.lifecycle.run import CheckFailed

        run.results.append(result)
        if result.status == "failed":
            raise CheckFailed(result)

    def observe(self, step, run):
        """The check's result, until it passes or its time is up; nothing recorded (a run of side-by-side checks
        records each in its turn)."""
        from orchestrator.checks.runner import run_check

        return run_check(step, run.runtime, run.ctx.checks, progress=run.ctx.ui.progress if run.ctx.ui.plain else None,
                         since=run.stage_started, wait=run.options.check_wait)

    def side_by_side(self, step, run) -> bool:
        return not run.options.pause and run.ctx.checks.get(step.check.type).side_by_side(step.check)

    def describe(self, step, lab) -> tuple[dict, str]:
        check = step.params
        data = {"type": check.type, **check.params, "expect": check.expect, "timeout": check.timeout, "interval": check.interval}
        if check.runtimes:
            data["runtimes"] = list(check.runtimes)
        if check.source:
            data["from"] = str(check.source)
        text = f"{check.type} check" + (f" from {data['from']}" if check.source else "") + f", expect {compact(check.expect)}"
        return data, text

    def by_hand(self, step, hand: ByHand) -> None:
        check = step.params
        kind = hand.checks.get(check.type)
        if kind.runs_in_pod:
            prefix = hand.exec_prefix(check.source)
        elif hasattr(kind, "by_hand_in"):
            prefix = kind.by_hand_in(check, hand.runtime)
            if prefix is None:  # nowhere to type it on this runtime: say so, and what kind's participants type
                kind_lines = [" ".join(kind.by_hand_in(check, "kind") + [hand.shell(argv)]) for argv in kind.commands(check)]
                hand.note(f"the {hand.runtime} runtime has nowhere to run this ({check.type}): `lab check` asks its emulation.\n"
                          f"On kind you would type: {kind_lines[0]}" + "".join(f"\n  {line}" for line in kind_lines[1:]))
                return
        else:
            prefix = []
        for argv in kind.commands(check):
            if prefix and isinstance(argv, str):  # a pipeline runs in the pod's shell
                argv = ["sh", "-c", argv]
            text = hand.shell(argv)
            hand.commands.append(" ".join(prefix) + " " + text if prefix else text)
