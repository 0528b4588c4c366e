#!/usr/bin/env python3
"""Benchmark the docker runtime against hand-written baselines measured in the same run; asserts nothing.

- The flagship, per run: the baseline (scripts/bench_baseline.sh: the same containers, control plane included,
  started by plain docker commands, then the same curl), then `lab up` to all checks passed, `lab verify`,
  `lab down`; min/median per phase and the ratio of `lab up` to the baseline.
- Every other lab: up, verify, down once each (no hand-written baseline exists for them); figures bounded by
  upstream timing are labelled so.
- N instances of one lab started at once (1, 2, 4; three rounds): the median wall time for all and its ratio to one,
  beside the machine's CPU time during them and the floor it sets (that CPU time spread on every core at once).
- `lab certs issue inject-mtls --force` against scripts/bench_certs_openssl.sh (the same five certificates with
  the openssl CLI), beside two floors of any such Python command against the same script (the same certificates
  in a bare Python script, scripts/bench_certs_python.py; Python importing click, PyYAML and cryptography), and
  `lab --help` against `python -c "import click"`: medians and ratios.
- A warm `make images` (the component build with Go's caches kept).
- The labs without Cilium on real kind (the node image `make kind-node` builds): a warm `make kind-node`,
  `kind create cluster` alone, and per lab `lab up --runtime kind` cold (the cluster created) and warm (the
  instance's cluster there: every stage replayed on it), verify and down, beside the same lab's `lab up` on the
  docker runtime in the same run.
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
OTHER_LABS = {  # lab -> what bounds its figures beyond the tool, said beside them
    "k8s-user-certs": "",
    "webhook-ca-repair": "bounded by MetalLB's own probe timing (its webhook and speaker waits)",
    "starwars-policy": "includes the drop checks' curl timeouts (dropTimeout, the lab's value)",
    "hubble-tls": "bounded by cert-manager's issuing",
}
PARALLEL_LAB = "k8s-user-certs"
FLOOR_IMPORTS = "import click, yaml; from cryptography import x509; from cryptography.hazmat.primitives.asymmetric import ec"
KIND_LABS = ["k8s-user-certs", "webhook-ca-repair"]


def timed(argv: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def every_lab(cwd: Path) -> None:
    print(f"\n{'lab':18} {'up':>7} {'verify':>7} {'down':>7}  note")
    for name, note in OTHER_LABS.items():
        up = lab(cwd, "up", name, "--runtime", "docker", "--images", "images.yaml")
        verify = lab(cwd, "verify", name)
        down = lab(cwd, "down", name)
        print(f"{name:18} {up:7.2f} {verify:7.2f} {down:7.2f}  {note}", flush=True)


def parallel(cwd: Path, counts=(1, 2, 4), rounds: int = 3) -> None:
    """N instances of one lab started at once, each N `rounds` times (1, 2, 4, then again): the median wall time
    for all and its ratio to one's median; each `down` after, not timed. One run swings by a tenth either way.
    Beside it, the machine's CPU time during the ups (every process: the control planes, Docker, lab) and the floor
    that sets: what N instances took of CPU cannot be spent sooner than on all the cores there are at once."""
    cores = os.cpu_count() or 1
    print(f"\n{PARALLEL_LAB} instances started at once ({cores} cores here; median of {rounds})")
    walls: dict[int, list[float]] = {n: [] for n in counts}
    cpus: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(rounds):
        for n in counts:
            wall, cpu = instances_at_once(cwd, n)
            walls[n].append(wall)
            if cpu is not None:
                cpus[n].append(cpu)
    one = statistics.median(walls[counts[0]])
    for n in counts:
        median = statistics.median(walls[n])
        runs = " ".join(f"{w:.2f}" for w in walls[n])
        cpu = ""
        if cpus[n]:
            used = statistics.median(cpus[n])
            cpu = f"; CPU {used:.1f}s, floor {max(one, used / cores) / one:.2f}x"
        print(f"  {n}: {median:6.2f}s  ({median / one:.2f}x one{cpu})  runs: {runs}", flush=True)
    if cpus[counts[0]]:
        print(f"  CPU: the machine's busy time during the ups (/proc/stat, median); floor: that CPU time spread on all {cores} cores,"
              " against one's wall")


def machine_cpu_seconds() -> float | None:
    """CPU time every process of the machine has spent so far (user, nice, system, irq, softirq), or None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def instances_at_once(cwd: Path, n: int) -> tuple[float, float | None]:
    """The wall time for all to be up, and the machine's CPU time meanwhile (None off Linux); their `down` after."""
    names = [f"{PARALLEL_LAB}-p{i}" for i in range(n)]
    busy, start = machine_cpu_seconds(), time.perf_counter()
    runs = [subprocess.Popen([sys.executable, "-m", "orchestrator", "up", PARALLEL_LAB, "--instance", name, "--runtime", "docker",
                              "--images", "images.yaml"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in names]
    outcomes = [run.communicate() + (run.returncode,) for run in runs]
    elapsed = time.perf_counter() - start
    cpu = machine_cpu_seconds() - busy if busy is not None else None
    for name in names:
        lab(cwd, "down", name)
    failed = [out + err for out, err, code in outcomes if code != 0]
    if failed:
        sys.exit(f"{n} instances at once: an up failed:\n{failed[0][-3000:]}")
    return elapsed, cpu


def tools(cwd: Path, runs: int = 7) -> None:
    """The PKI against the openssl CLI doing the same certificates, and the CLI's start against click's import."""
    out = cwd / "pki-bench"
    certs = [timed([sys.executable, "-m", "orchestrator", "certs", "issue", "inject-mtls", "--force", "--out", str(out / "lab")], cwd)
             for _ in range(runs)]
    openssl, python = [], []
    for _ in range(runs):
        shutil.rmtree(out / "openssl", ignore_errors=True)
        openssl.append(timed(["bash", str(REPO / "scripts/bench_certs_openssl.sh"), str(out / "openssl")]))
        python.append(timed([sys.executable, str(REPO / "scripts/bench_certs_python.py"), str(out / "python")]))
    # What any Python command that reads YAML and issues certificates pays before its first line of work.
    floor = [timed([sys.executable, "-c", FLOOR_IMPORTS]) for _ in range(runs)]
    help_ = [timed([sys.executable, "-m", "orchestrator", "--help"], cwd) for _ in range(runs)]
    click = [timed([sys.executable, "-c", "import click"]) for _ in range(runs)]
    print(f"\n{'what':44} {'median':>7} {'baseline':>9} {'ratio':>6}")
    for what, mine, base in (("lab certs issue inject-mtls --force", certs, openssl),
                             ("  floor: the same certificates, bare Python", python, openssl),
                             ("  floor: Python importing its libraries", floor, openssl), ("lab --help", help_, click)):
        print(f"{what:44} {statistics.median(mine):7.3f} {statistics.median(base):9.3f} {statistics.median(mine) / statistics.median(base):6.2f}x")
    print("  baselines: scripts/bench_certs_openssl.sh (the same five certificates), python -c 'import click'")
    print("  floors: scripts/bench_certs_python.py (the same certificates with cryptography: no CLI, no validation, no templating);")
    print(f"          python -c '{FLOOR_IMPORTS}' (no lab read, no key made)")


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
    parser.add_argument("--only", choices=["flagship", "labs", "parallel", "tools", "kind"], action="append",
                        help="measure only these parts (repeatable; default: all)")
    args = parser.parse_args()
    parts = set(args.only or ["flagship", "labs", "parallel", "tools", "kind"])
    start = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "scripts/build_components.py")], check=True, capture_output=True)
    print(f"warm `make images` (components): {time.perf_counter() - start:.1f}s", flush=True)
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
        cwd = Path(tmp)
        (cwd / "images.yaml").write_text((REPO / "images.local.yaml").read_text())
        if "flagship" in parts:
            flagship(cwd, args.runs)
        if "labs" in parts:
            every_lab(cwd)
        if "parallel" in parts:
            parallel(cwd)
        if "tools" in parts:
            tools(cwd)
        if "kind" in parts:
            kind(cwd)


def kind(cwd: Path) -> None:
    """Real kind clusters on the node image built here; kind, helm and kubectl as `make images` built them."""
    from orchestrator.providers.process import COMPONENTS_BIN
    from orchestrator.runtimes.kind import CGROUP_V1_PATCH

    os.environ["PATH"] = f"{os.environ['PATH']}{os.pathsep}{COMPONENTS_BIN}"
    warm = timed([sys.executable, str(REPO / "scripts/build_kind_node.py")])  # `make bench` ran `make kind-node` first
    print(f"\nwarm `make kind-node` (the node image up to date): {warm:.1f}s", flush=True)
    cgroup = subprocess.run(["docker", "info", "--format", "{{.CgroupVersion}}"], capture_output=True, text=True).stdout.strip()
    config = cwd / "kind-bench.yaml"
    node = yaml.safe_load((REPO / "images.local.yaml").read_text())["images"]["kindNode"]
    spec = {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "nodes": [{"role": "control-plane", "image": node}]}
    if cgroup == "1":  # as the kind runtime does on a cgroup v1 engine
        spec["kubeadmConfigPatches"] = [CGROUP_V1_PATCH]
    config.write_text(yaml.safe_dump(spec))
    creates = []
    for _ in range(2):
        creates.append(timed(["kind", "create", "cluster", "--name", "lab-bench", "--config", str(config), "--kubeconfig", str(cwd / "kubeconfig")]))
        timed(["kind", "delete", "cluster", "--name", "lab-bench", "--kubeconfig", str(cwd / "kubeconfig")])
    subprocess.run(["docker", "network", "rm", "kind"], capture_output=True)  # kind's own, made by the create above
    print(f"kind create cluster (one node, {node}): first {creates[0]:.1f}s, second {creates[1]:.1f}s")
    print(f"{'lab':18} {'docker up':>9} {'kind up cold':>12} {'warm':>6} {'verify':>7} {'down':>6}  note")
    for name in KIND_LABS:
        docker_up = lab(cwd, "up", name, "--runtime", "docker", "--images", "images.yaml")
        lab(cwd, "down", name)
        cold = lab(cwd, "up", name, "--runtime", "kind", "--images", "images.yaml")
        warm = lab(cwd, "up", name, "--images", "images.yaml")
        verify = lab(cwd, "verify", name)
        down = lab(cwd, "down", name)
        print(f"{name:18} {docker_up:9.2f} {cold:12.2f} {warm:6.2f} {verify:7.2f} {down:6.2f}  {OTHER_LABS[name]}", flush=True)


def flagship(cwd: Path, runs: int) -> None:
    prepared = cwd / "baseline"
    prepared.mkdir()
    prepare_baseline(cwd, prepared)
    timings: dict[str, list[float]] = {"baseline": [], "up": [], "verify": [], "down": []}
    for i in range(runs):
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
    print(f"inject-mtls: lab up / hand-written baseline (medians): {ratio:.2f}x")


if __name__ == "__main__":
    main()
