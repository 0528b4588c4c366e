"""Run a check until it passes or its timeout expires; the last attempt is what the report shows.

A failure that waiting cannot heal (the pod is gone, the engine is down) ends the check at once.
"""

from __future__ import annotations

import time

from orchestrator.checks.base import CheckResult
from orchestrator.checks.registry import CheckRegistry
from orchestrator.errors import LabError, MissingPrerequisite, PermanentFailure
from orchestrator.spec.model import Step

ATTEMPT_CAP = 15.0  # one attempt never waits longer, so a slow answer still leaves room to retry
QUIET = 10.0  # a failure that does not change is told again only this often (a participant reads these lines)


def run_check(step: Step, runtime, registry: CheckRegistry, clock=time.monotonic, sleep=time.sleep, wall=time.time,
              progress=None, since: float | None = None, wait: float | None = None) -> CheckResult:
    """`since`: when the stage the check proves began (flows older than that never count); default, now. `wait`:
    retry at most this long, when less than the check's timeout (a participant checking a stage done by hand:
    what is there is there; 0 is one attempt)."""
    check = step.check
    result = CheckResult(step.name, check.type, step.description, "failed", check.expect)
    if check.runtimes and runtime.name not in check.runtimes:
        result.status, result.message = "skipped", f"runs on {', '.join(check.runtimes)} only"
        return result
    kind = registry.get(check.type)
    start = clock()
    result.started = wall()
    deadline = start + (check.timeout if wait is None else min(wait, check.timeout))
    told, told_at = "", start
    while True:
        result.attempts += 1
        remaining = max(1.0, deadline - clock())
        try:
            observation = kind.attempt(check, runtime, min(remaining, ATTEMPT_CAP), since if since is not None else result.started)
        except MissingPrerequisite:
            raise  # not the check's failure: the machine lost what the runtime needs (the engine stopped)
        except PermanentFailure as exc:
            result.message, result.output = f"could not run: {exc.message}", ""
            break
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
        if progress is not None and (result.message != told or clock() - told_at >= QUIET):
            progress(f"{step.name}: attempt {result.attempts} failed ({result.message[:120]}); retrying for {deadline - clock():.0f}s more")
            told, told_at = result.message, clock()
        sleep(check.interval)
    if result.status == "failed" and kind.runs_in_pod:
        try:
            why = runtime.network.explain(check.source, result.started)
        except LabError:
            why = ""
        if why:
            result.message += f"; {why}"
    result.seconds = round(clock() - start, 3)
    return result
