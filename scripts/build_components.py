#!/usr/bin/env python3
"""Build Kubernetes' control plane, etcd and kind from their Go modules (pinned), and package the control
plane as small lab.local/<name>:test images.

k8s.io/kubernetes and etcd's server module replace their sibling modules with local paths, so each is built
through a wrapper module of ours (scripts/components/<name>/go.mod) that requires it and pins the published
versions instead. kind, helm and MetalLB's controller have no replace directives: `go install <module>@<version>`, their documented way.

Go's module and build caches are kept (GOMODCACHE, GOCACHE), and `go install` relinks only what changed, so
a warm run takes seconds. Prints what was built and how long it took.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_images import import_image  # noqa: E402  (the same image recipe as the other local images)
from orchestrator.providers.process import COMPONENTS_BIN  # noqa: E402

HERE = Path(__file__).resolve().parent / "components"
KUBERNETES = "v1.35.4"
ETCD = "v3.6.16"
KIND = "v0.31.0"
HELM = "v3.19.5"
METALLB = "v0.15.3"
CERT_MANAGER = "v1.21.1"  # pinned in components/cert-manager/go.mod
BIN = COMPONENTS_BIN  # where the lab's tool looks for helm when it is not on PATH
RENAMED = BIN / ".installed"  # what `go install` names vaguely (server, controller), linked into BIN by a clear name
RENAMED_ENV = {"GOBIN": str(RENAMED)}
CONTROL_PLANE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"]


def version_ldflags() -> str:
    """Stamp the version, or /version and `kubectl version` report v0.0.0."""
    major, minor = KUBERNETES.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.gitVersion={KUBERNETES}", f"-X {package}.gitMajor={major}", f"-X {package}.gitMinor={minor}",
                  f"-X {package}.gitTreeState=clean"]
    return " ".join(flags)


def go(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    # -buildvcs=false: a wrapper module inside this repository would stamp the repository's commit, and every new
    # commit would then rebuild (and re-import) its image.
    env = {**os.environ, "GOBIN": str(BIN), "CGO_ENABLED": "0", "GOFLAGS": "-trimpath -mod=readonly -buildvcs=false", **(env or {})}
    result = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"go {' '.join(args)} failed:\n{result.stderr[-4000:]}")


def build_binaries() -> None:
    RENAMED.mkdir(parents=True, exist_ok=True)
    steps = [
        ("kubernetes " + KUBERNETES, lambda: go(["install", "-ldflags", version_ldflags(), *(f"k8s.io/kubernetes/cmd/{c}" for c in CONTROL_PLANE)],
                                               HERE / "kubernetes")),
        ("etcd " + ETCD, lambda: go(["install", "-ldflags", "-s -w", "go.etcd.io/etcd/server/v3"], HERE / "etcd", env=RENAMED_ENV)),
        ("kind " + KIND, lambda: go(["install", f"sigs.k8s.io/kind@{KIND}"])),
        # helm's own documented Go install path; the tests render the real Cilium chart with it
        ("helm " + HELM, lambda: go(["install", "-ldflags", f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM}",
                                     f"helm.sh/helm/v3/cmd/helm@{HELM}"])),
        # MetalLB's controller, its documented module path. The checksum database has no entry for one of its
        # dependencies (github.com/metallb/frr-k8s v0.0.21 answers 404 there), so that one module is exempted
        # from the database; metallb's own go.sum still pins its hash.
        ("metallb controller " + METALLB, lambda: go(["install", "-ldflags", "-s -w", f"go.universe.tf/metallb/controller@{METALLB}"],
                                                    env={**RENAMED_ENV, "GONOSUMDB": "github.com/metallb/frr-k8s"})),
        # cert-manager's controllers (self-signed and CA issuers, Certificates, the approver) through a small program
        # of ours over its exported packages (components/cert-manager/main.go).
        ("cert-manager controllers " + CERT_MANAGER, lambda: go(["install", "-ldflags", "-s -w", "."], HERE / "cert-manager", env=RENAMED_ENV)),
    ]

    running: dict[str, float] = {}  # what is being built, since when
    done = threading.Event()

    def timed(name: str, build) -> None:
        running[name] = time.monotonic()
        build()
        print(f"go: {name}: {time.monotonic() - running.pop(name):.1f}s ({len(steps) - len(finished) - 1} to go)", flush=True)
        finished.append(name)

    def progress() -> None:
        """While a build is long (a cold one is, the first time), say every 30 s what is being built and for how long."""
        while not done.wait(30):
            now = time.monotonic()
            busy = ", ".join(f"{name} ({(now - since) / 60:.1f} min so far)" for name, since in list(running.items()))
            if busy:
                print(f"go: still building {busy}; {len(finished)} of {len(steps)} done", flush=True)

    finished: list[str] = []
    if not (BIN / "kube-apiserver").exists():
        print("go: building the control plane, etcd, kind, helm and the labs' controllers from their Go modules: the first time "
              "takes 10 to 20 minutes on 2 cores (Go's caches keep later builds to seconds)", flush=True)
    ticker = threading.Thread(target=progress, daemon=True)
    ticker.start()
    # Two at a time: a warm build is mostly `go` checking a large module graph, one core each.
    try:
        with ThreadPoolExecutor(2) as pool:
            for built in [pool.submit(timed, name, build) for name, build in steps]:
                built.result()
    finally:
        done.set()
    # Binaries whose installed names say little are linked under names that do; the installed file stays where
    # `go install` put it, so the next run finds it up to date instead of linking it again.
    for installed, name in (("server", "etcd"),  # etcd's server module (the major-version suffix is dropped)
                            ("cert-manager", "cert-manager-controllers"), ("controller", "metallb-controller")):  # MetalLB's
        if (RENAMED / installed).exists() and not ((BIN / name).exists() and os.path.samefile(RENAMED / installed, BIN / name)):
            link = BIN / f".{name}.tmp"
            link.unlink(missing_ok=True)
            os.link(RENAMED / installed, link)
            link.replace(BIN / name)


def fingerprint(binary: Path) -> str:
    digest = hashlib.sha256()
    with binary.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def image(name: str, binary: Path, entrypoint: str | None = None, fill_extra=None) -> None:
    """The binary on PATH (the control plane's manifests name their command), or at `entrypoint` as the
    image's ENTRYPOINT, where the official image has it (MetalLB's /controller); fill_extra(root) adds what else
    the program runs (kube-proxy's iptables)."""
    def fill(root: Path) -> list[str]:
        target = root / (entrypoint.lstrip("/") if entrypoint else f"usr/local/bin/{binary.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(binary.read_bytes())
        target.chmod(0o755)
        (root / "var/lib/etcd").mkdir(parents=True, exist_ok=True)
        if fill_extra:
            fill_extra(root)
        if entrypoint:
            return ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", f'ENTRYPOINT ["{entrypoint}"]']
        return ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", f'CMD ["{binary.name}", "--version"]']

    extra = "-" + hashlib.sha256(inspect.getsource(fill_extra).encode()).hexdigest()[:8] if fill_extra else ""
    if import_image(f"lab.local/{name}:test", fingerprint(binary) + extra, fill):
        print(f"lab.local/{name}:test: built ({binary.stat().st_size // 1_000_000} MB binary)")


def main() -> None:
    start = time.monotonic()
    build_binaries()
    for name in ["etcd", *CONTROL_PLANE]:
        image(name, BIN / name)
    image("metallb-controller", BIN / "metallb-controller", entrypoint="/controller")
    # where quay.io/jetstack/cert-manager-controller has its binary (its ENTRYPOINT)
    image("cert-manager-controllers", BIN / "cert-manager-controllers", entrypoint="/app/cmd/controller/controller")
    print(f"components: {time.monotonic() - start:.1f}s (binaries in {BIN}: kind, helm, kubectl, the control plane, MetalLB's controller and cert-manager's controllers)")


if __name__ == "__main__":
    main()
