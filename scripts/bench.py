#!/usr/bin/env python3
"""Benchmark the docker runtime against a hand-written baseline measured in the same run.

Per run: the baseline (scripts/bench_baseline.sh: the same containers, control plane included, started by
plain docker commands, then the same curl), then `lab up` to all checks passed, `lab verify`, `lab down`.
Prints min/median per phase and the ratio of `lab up` to the baseline; asserts nothing. Also times a warm
`make images` (the component build with Go's caches kept).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TARGETS = {"up": 10.0, "verify": 3.0, "down": 5.0}


def lab(cwd: Path, *args: str) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"lab {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return elapsed


def prepare_baseline(cwd: Path, out: Path) -> None:
    """Everything the baseline reads, made before the clock starts: what a person would have at hand."""
    from orchestrator.kube import cilium
    from orchestrator.network.emulated import ccec
    from orchestrator.runtimes.docker.control_plane import ClusterPki

    lab(cwd, "render", "inject-mtls", "--images", "images.yaml", "--out", str(out / "rendered"))
    shutil.copy(cwd / "images.yaml", out / "images.yaml")
    pki = ClusterPki(out / "pki", "base", ["base-control-plane", "kubernetes", "localhost"],
                     {"controller-manager": ["base-controller-manager"], "scheduler": ["base-scheduler"]})
    pki.ensure()
    for path in (out / "pki").iterdir():
        path.chmod(0o644)  # bind-mounted read-only into the containers (the tool copies them in 0600 instead)
    for component in ("controller-manager", "scheduler"):
        (out / f"{component}.conf").write_text(pki.kubeconfig(component, "https://base-control-plane:6443"))
    certs = out / "rendered" / "pki"  # `render --out` keeps the PKI it renders with inside --out
    (out / "client-certs").mkdir()
    for source, target in (("client-chain.crt", "tls.crt"), ("client.key", "tls.key"), ("ca.crt", "ca.crt")):
        shutil.copy(certs / source, out / "client-certs" / target)
        (out / "client-certs" / target).chmod(0o644)
    docs = []
    for path in sorted((out / "rendered/manifests/cilium").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    config = next(d for d in docs if d["kind"] == "CiliumClusterwideEnvoyConfig")
    cnp = next(d for d in docs if d["kind"] == "CiliumNetworkPolicy")
    secrets = ccec.sds_secrets([d for d in docs if d["kind"] == "Secret"])
    bootstrap = ccec.envoy_bootstrap(config, {r.listener: 15000 + i for i, r in enumerate(cilium.redirects(cnp))}, secrets, "/etc/envoy/secrets", 9901)
    (out / "envoy").mkdir()
    (out / "envoy/envoy.yaml").write_text(yaml.safe_dump(bootstrap, sort_keys=False))
    for path, content in ccec.secret_files(secrets, str(out / "envoy/secrets")).items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(content)
        os.chown(path, 101, 101)
        Path(path).chmod(0o400)


def baseline(prepared: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(["bash", str(REPO / "scripts/bench_baseline.sh"), str(prepared)], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    clean_baseline(prepared)
    if result.returncode != 0:
        sys.exit(f"baseline failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def clean_baseline(prepared: Path) -> None:
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=lab.dev/bench=baseline"], capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    subprocess.run(["docker", "compose", "-p", "base", "-f", str(prepared / "rendered/stack/compose.yaml"), "down", "-v", "--timeout", "1"],
                   capture_output=True)
    nets = subprocess.run(["docker", "network", "ls", "-q", "--filter", "label=lab.dev/bench=baseline"], capture_output=True, text=True).stdout.split()
    if nets:  # the baseline made the network: it goes too, as `lab down` removes the one lab made
        subprocess.run(["docker", "network", "rm", *nets], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    start = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "scripts/build_components.py")], check=True, capture_output=True)
    print(f"warm `make images` (components): {time.perf_counter() - start:.1f}s", flush=True)
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
        cwd = Path(tmp)
        (cwd / "images.yaml").write_text((REPO / "images.local.yaml").read_text())
        prepared = cwd / "baseline"
        prepared.mkdir()
        prepare_baseline(cwd, prepared)
        timings: dict[str, list[float]] = {"baseline": [], "up": [], "verify": [], "down": []}
        for i in range(args.runs):
            timings["baseline"].append(baseline(prepared))
            timings["up"].append(lab(cwd, "up", "inject-mtls", "--runtime", "docker", "--images", "images.yaml"))
            timings["verify"].append(lab(cwd, "verify", "inject-mtls"))
            timings["down"].append(lab(cwd, "down", "inject-mtls"))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in timings.items()), flush=True)
    print(f"{'phase':9} {'min':>7} {'median':>7} {'target':>7}")
    for phase, values in timings.items():
        target = f"{TARGETS[phase]:7.1f}" if phase in TARGETS else "      -"
        print(f"{phase:9} {min(values):7.2f} {statistics.median(values):7.2f} {target}")
    ratio = statistics.median(timings["up"]) / statistics.median(timings["baseline"])
    print(f"lab up / hand-written baseline (medians): {ratio:.2f}x (target 1.3x)")


if __name__ == "__main__":
    main()
