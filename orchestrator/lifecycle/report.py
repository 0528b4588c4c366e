"""What a run leaves behind for people and CI: the report (table, JSON, JUnit, the kept results file)
and, after a failure, the logs the runtime collects."""

from __future__ import annotations

import json
import time
from pathlib import Path

from orchestrator.checks.report import as_dict, summary, table_rows, write_junit
from orchestrator.files import write_atomic
from orchestrator.lifecycle.run import Run


def report(run: Run, logs: Path | None) -> None:
    ui, results = run.ctx.ui, run.results
    logs_text = str(logs) if logs else None
    report = {**as_dict(run.lab.name, run.lab.instance, run.runtime.name, results, logs_text), "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": run.command}
    write_atomic(run.ctx.results_file(run.lab.instance), json.dumps(report, indent=2, default=str).encode(), 0o644)
    if run.options.junit:
        write_junit(run.options.junit, f"lab.{run.lab.name}", results, logs_text)
    if run.options.output == "json":
        ui.json(as_dict(run.lab.name, run.lab.instance, run.runtime.name, results, logs_text))
    elif results:
        ui.table(["check", "type", "result", "time", "detail"], table_rows(results, run.ctx.checks),
                 title=f"Checks of {run.lab.name} ({run.runtime.name})")
        counts = summary(results)
        ui.line(f"{counts['passed']} passed, {counts['failed']} failed" + (f", {counts['skipped']} skipped" if counts["skipped"] else ""))
    if logs:
        ui.progress(f"logs collected in {logs}")


def tell_failures(run: Run) -> None:
    """Each failed check at length, for a person at a terminal: what it expected, what was seen (whole), and the
    lab author's hint for it."""
    if run.options.output == "json":
        return
    steps = {s.name: s for s in run.lab.steps}
    for result in (r for r in run.results if r.status == "failed" and r.type != "step"):
        step = steps.get(result.name)
        run.ctx.ui.progress(f"\n{result.name} failed: {result.message}")
        if result.seen:
            run.ctx.ui.progress("  seen: " + json.dumps(result.seen, default=str, sort_keys=True)[:4000])
        if result.output.strip():
            run.ctx.ui.progress("  output: " + result.output.strip()[-2000:].replace("\n", "\n          "))
        if step is not None and step.hint:
            run.ctx.ui.progress(f"  hint: {step.hint}")


def collect_logs(run: Run) -> Path:
    dest = run.ctx.logs_root / run.lab.instance / time.strftime("%Y%m%d-%H%M%S")
    try:
        run.runtime.collect_logs(dest)
    except Exception as exc:  # diagnostics must never hide the real failure
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "collect-error.txt").write_text(f"{type(exc).__name__}: {exc}")
    return dest
