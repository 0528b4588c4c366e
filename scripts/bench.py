#!/usr/bin/env python3
"""Benchmark the docker runtime: `up` to all checks passed, `verify` alone, `down` (min/median over runs).

Targets on a 2-core CI machine: up < 15 s, verify < 3 s, down < 5 s. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGES = {key: f"lab.local/{key}:test" for key in ("haproxy", "echo", "client", "envoy")}
TARGETS = {"up": 15.0, "verify": 3.0, "down": 5.0}


def timed(cwd: Path, *args: str) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"lab {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
        cwd = Path(tmp)
        (cwd / "images.yaml").write_text("images:\n" + "".join(f"  {k}: {v}\n" for k, v in IMAGES.items()))
        timings: dict[str, list[float]] = {"up": [], "verify": [], "down": []}
        for i in range(args.runs):
            timings["up"].append(timed(cwd, "up", "inject-mtls", "--runtime", "docker", "-f", "images.yaml"))
            timings["verify"].append(timed(cwd, "verify", "inject-mtls"))
            timings["down"].append(timed(cwd, "down", "inject-mtls"))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in timings.items()), flush=True)
    print(f"{'phase':8} {'min':>7} {'median':>7} {'target':>7}")
    for phase, values in timings.items():
        print(f"{phase:8} {min(values):7.2f} {statistics.median(values):7.2f} {TARGETS[phase]:7.1f}")


if __name__ == "__main__":
    main()
