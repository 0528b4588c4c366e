"""Run a check until it passes or its timeout expires; the last attempt is what the report shows."""

from __future__ import annotations

import time

from orchestrator.checks.base import CheckResult
from orchestrator.checks.kinds import CheckRegistry
from orchestrator.errors import LabError
from orchestrator.spec import Step


def run_check(step: Step, runtime, registry: CheckRegistry, clock=time.monotonic, sleep=time.sleep) -> CheckResult:
    check = step.check
    result = CheckResult(step.name, check.type, step.description, "failed", check.expect)
    if check.runtimes and runtime.name not in check.runtimes:
        result.status, result.message = "skipped", f"runs on {', '.join(check.runtimes)} only"
        return result
    kind = registry.get(check.type)
    start = clock()
    deadline = start + check.timeout
    while True:
        result.attempts += 1
        remaining = max(1.0, deadline - clock())
        try:
            observation = kind.attempt(check, runtime, min(remaining, 15.0))
        except LabError as exc:
            result.message, result.output = f"could not run: {exc.message}", ""
            observation = None
        if observation is not None:
            result.seen, result.output = observation.seen, observation.output
            if observation.passed:
                result.status, result.message = "passed", ""
                break
            result.message = "; ".join(observation.problems)
        if clock() + check.interval > deadline:
            break
        sleep(check.interval)
    result.seconds = round(clock() - start, 3)
    return result
