"""Check reports: a table for people, JSON and JUnit XML for CI (failure message and output in each case)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from orchestrator.checks.base import CheckResult
from orchestrator.checks.registry import CheckRegistry
from orchestrator.files import write_atomic


def summary(results: list[CheckResult]) -> dict[str, int]:
    return {s: sum(1 for r in results if r.status == s) for s in ("passed", "failed", "skipped")}


def table_rows(results: list[CheckResult], registry: CheckRegistry) -> list[list[str]]:
    rows = []
    for r in results:
        if r.status == "passed" and r.type in registry.names():
            detail = registry.get(r.type).summary(r.seen)
        else:
            detail = r.message
        rows.append([r.name, r.type, r.status.upper() if r.status == "failed" else r.status, f"{r.seconds:.2f}s", detail])
    return rows


def as_dict(lab: str, instance: str, runtime: str, results: list[CheckResult], logs_dir: str | None) -> dict:
    """The `-o json` report."""
    return {
        "lab": lab, "instance": instance, "runtime": runtime,
        "passed": all(r.status != "failed" for r in results),
        "summary": summary(results),
        "checks": [r.to_dict() for r in results],
        "logs": logs_dir,
    }


_TEXT = {"type": "string", "maxLength": 100_000}
REPORT_SCHEMA = {
    "type": "object",
    "required": ["lab", "runtime", "checks"],
    "properties": {
        "lab": {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"},
        "instance": {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"},
        "runtime": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,30}$"},
        "command": {"enum": ["up", "verify", "check", "solve", "reset"]},
        "at": {"type": "string", "maxLength": 64},
        "logs": {"type": ["string", "null"], "maxLength": 4096},
        "checks": {
            "type": "array", "maxItems": 1000,
            "items": {"type": "object", "required": ["name", "status"],
                      "properties": {"name": {"type": "string", "maxLength": 200}, "type": {"type": "string", "maxLength": 100},
                                     "status": {"enum": ["passed", "failed", "skipped"]}, "message": _TEXT, "output": _TEXT,
                                     "seconds": {"type": "number", "minimum": 0, "maximum": 1e6}}},
        },
    },
}


def read_report(path: Path) -> dict:
    """A report `lab up`/`lab verify` kept, read bounded and checked against its schema before it is shown."""
    import jsonschema

    from orchestrator.errors import BadInput
    from orchestrator.files import MAX_RECORD_BYTES, read_bounded

    try:
        report = json.loads(read_bounded(path, "results file", MAX_RECORD_BYTES))
    except (UnicodeDecodeError, ValueError):
        report = None
    error = next(iter(jsonschema.Draft202012Validator(REPORT_SCHEMA).iter_errors(report)), None) if report is not None else "not JSON"
    if error is not None:
        where = ".".join(str(p) for p in getattr(error, "absolute_path", ())) or "(top level)"
        raise BadInput(f"{path}: is not a report `lab up`/`lab verify` wrote ({where}); run one of them again")
    report.setdefault("command", "up / verify")
    return report


def write_junit(path: Path, suite: str, results: list[CheckResult], logs_dir: str | None) -> None:
    counts = summary(results)
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)), failures=str(counts["failed"]),
                       skipped=str(counts["skipped"]), errors="0", time=f"{sum(r.seconds for r in results):.3f}")
    for r in results:
        case = ET.SubElement(ts, "testcase", classname=suite, name=r.name, time=f"{r.seconds:.3f}")
        if r.status == "failed":
            failure = ET.SubElement(case, "failure", message=r.message, type=f"{r.type}-check")
            failure.text = f"expected: {json.dumps(r.expected, default=str)}\nseen: {json.dumps(r.seen, default=str)}\nattempts: {r.attempts}" + (
                f"\nlogs: {logs_dir}" if logs_dir else "")
        elif r.status == "skipped":
            ET.SubElement(case, "skipped", message=r.message)
        if r.output:
            ET.SubElement(case, "system-out").text = r.output
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, ET.tostring(root, encoding="utf-8", xml_declaration=True), 0o644)
