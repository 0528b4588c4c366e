#!/usr/bin/env python3
"""Build kind's node image offline: lab.local/kind-node:<kubernetes version>, for `lab up --runtime kind` on a
machine that cannot pull kindest/node (no image registry).

kind's own recipe, in three steps, from pinned sources only:
1. a Debian root filesystem of the packages kind's base image installs (mmdebstrap, with this machine's apt
   sources), imported as an image;
2. kind's base image on it: kind's base-image files (entrypoint, systemd units, containerd config) read from the
   pinned sigs.k8s.io/kind module in Go's module cache, the way images/base/Dockerfile copies them, and containerd,
   runc, crictl and the CNI plugins built from their Go modules (images/base builds them from source too);
3. the node image, as `kind build node-image` makes it: kubeadm, kubelet and kubectl in /usr/bin, /kind/version,
   the images `kubeadm config images list` names imported into the node's containerd (built here from the
   Kubernetes module, etcd's and CoreDNS's; the pause container from Kubernetes' own source), then committed.

Two things differ from kindest/node, both because their sources are not served here, and both say so in the image:
kindnetd (kind's CNI daemon) is replaced by containerd's own CNI config template (ptp and host-local on the node's
pod CIDR, the plugins kindnetd configures), which networks the pods of a one-node cluster; and there is no
local-path-provisioner (kind then installs its fallback StorageClass). Each step is skipped when its inputs are
unchanged, so a warm rebuild takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_components import BIN, HERE, KIND, KUBERNETES, go, image, version_ldflags  # noqa: E402
from build_images import copy_with_libs, existing_label  # noqa: E402

NODE_IMAGE = f"lab.local/kind-node:{KUBERNETES}"
CONTAINERD = "v2.2.0"  # kind v0.31.0's images/base pins (CONTAINERD_VERSION, RUNC_VERSION, CNI_PLUGINS_VERSION)
RUNC = "v1.2.9"
CNI_PLUGINS = "v1.8.0"
CRI_TOOLS = "v1.34.0"  # kind pins v1.33.0, which the module proxy here does not serve; crictl talks CRI v1 either way
COREDNS = "v1.13.1"  # what kubeadm v1.35 deploys (`kubeadm config images list`)
METALLB = "v0.15.3"
DEBIAN = "bookworm"  # kind's base image is debian:bookworm-slim
# images/base/Dockerfile's clean-install list: systemd; Kubernetes' needs; storage; the runtime's; kind's own tools.
PACKAGES = ["systemd", "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux", "mount", "kmod",
            "libseccomp2", "pigz", "fuse-overlayfs", "nfs-common", "open-iscsi", "bash", "ca-certificates", "curl", "jq",
            "procps"]
NODE_BIN = BIN / "kind-node"
CACHE = BIN.parent / "kind-node"
NODE_FILES = Path(__file__).resolve().parent / "kind-node"  # this project's own additions to the node
LABEL = "lab.dev/fingerprint"


def kind_module() -> Path:
    """kind's module in Go's module cache (downloaded if missing), where images/base/files is."""
    out = subprocess.run(["go", "mod", "download", "-json", f"sigs.k8s.io/kind@{KIND}"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"go mod download sigs.k8s.io/kind@{KIND} failed:\n{out.stderr[-2000:]}")
    return Path(json.loads(out.stdout)["Dir"])


def kubernetes_module() -> Path:
    out = subprocess.run(["go", "list", "-m", "-json", "k8s.io/kubernetes"], cwd=HERE / "kubernetes", capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"go list k8s.io/kubernetes failed:\n{out.stderr[-2000:]}")
    return Path(json.loads(out.stdout)["Dir"])


def build_binaries() -> None:
    """Every program the node runs, from its pinned module; `go install` relinks only what changed."""
    NODE_BIN.mkdir(parents=True, exist_ok=True)
    into = {"GOBIN": str(NODE_BIN)}
    steps = [
        ("kubeadm, kubelet, kube-proxy " + KUBERNETES, lambda: go(["install", "-ldflags", version_ldflags(),
                                                                   *(f"k8s.io/kubernetes/cmd/{c}" for c in ("kubeadm", "kubelet", "kube-proxy"))],
                                                                  HERE / "kubernetes", env=into)),
        # the build tags of images/base (no optional snapshotters)
        ("containerd " + CONTAINERD, lambda: go(["install", "-tags", "no_aufs no_zfs no_btrfs no_devmapper", "-ldflags",
                                                f"-s -w -X github.com/containerd/containerd/v2/version.Version={CONTAINERD}",
                                                *(f"github.com/containerd/containerd/v2/cmd/{c}" for c in ("containerd", "ctr", "containerd-shim-runc-v2"))],
                                               HERE / "containerd", env=into)),
        # runc needs cgo (its nsenter is C) and libseccomp, as images/base builds it
        ("runc " + RUNC, lambda: go(["install", "-tags", "seccomp", "-ldflags", f"-s -w -X main.version={RUNC.lstrip('v')}",
                                     f"github.com/opencontainers/runc@{RUNC}"], env={**into, "CGO_ENABLED": "1"})),
        ("crictl " + CRI_TOOLS, lambda: go(["install", "-ldflags", f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={CRI_TOOLS}",
                                            f"sigs.k8s.io/cri-tools/cmd/crictl@{CRI_TOOLS}"], env=into)),
        ("CNI plugins " + CNI_PLUGINS, lambda: go(["install", "-ldflags", "-s -w",
                                                   *(f"github.com/containernetworking/plugins/plugins/{p}@{CNI_PLUGINS}"
                                                     for p in ("ipam/host-local", "main/loopback", "main/ptp", "meta/portmap"))], env=into)),
        ("coredns " + COREDNS, lambda: go(["install", "-ldflags", "-s -w", f"github.com/coredns/coredns@{COREDNS}"], env=into)),
        # MetalLB's speaker, for webhook-ca-repair on kind (the docker runtime omits it); as its controller is built
        ("metallb speaker " + METALLB, lambda: go(["install", "-ldflags", "-s -w", f"go.universe.tf/metallb/speaker@{METALLB}"],
                                                 env={**into, "GONOSUMDB": "github.com/metallb/frr-k8s"})),
    ]
    for name, build in steps:
        start = time.monotonic()
        build()
        print(f"go: {name}: {time.monotonic() - start:.1f}s", flush=True)
    pause = NODE_BIN / "pause"
    source = kubernetes_module() / "build/pause/linux/pause.c"
    if not pause.exists() or pause.stat().st_mtime < source.stat().st_mtime:
        # build/pause/Makefile's recipe: a static C binary stamped with its version
        subprocess.run(["gcc", "-Os", "-Wall", "-Werror", "-static", "-DVERSION=v3.10.1-lab", "-o", str(pause), str(source)], check=True)
        subprocess.run(["strip", str(pause)], check=True)


def digest(*paths: Path, extra: str = "") -> str:
    """Of the files' contents and modes: `go install` rewrites a binary it found up to date, so times say nothing."""
    h = hashlib.sha256(extra.encode())
    for path in paths:
        for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
            h.update(f"{file.name}:{file.stat().st_mode}:".encode())
            with file.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]


def apt_sources() -> list[str]:
    """This machine's apt sources (one-line and deb822 files), never a mirror of ours."""
    sources = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*.list")) + \
        sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    found = [str(s) for s in sources if s.is_file() and s.read_text().strip()]
    if not found:
        sys.exit("kind node: this machine has no apt sources (/etc/apt/sources.list*) to build Debian's packages from")
    return found


def rootfs_image() -> str:
    """Step 1: Debian with kind's packages, imported as lab.local/kind-node-rootfs:<key>."""
    sources = apt_sources()
    key = hashlib.sha256(json.dumps([DEBIAN, PACKAGES, [Path(s).read_text() for s in sources]]).encode()).hexdigest()[:16]
    ref = f"lab.local/kind-node-rootfs:{key}"
    if existing_label(ref) == key:
        return ref
    if not shutil.which("mmdebstrap"):
        sys.exit("kind node: mmdebstrap is needed to build the node's root filesystem (apt install mmdebstrap; `make kind-node` installs it through scripts/sysdeps.sh kind)")
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / f"rootfs-{key}.tar"
    if not tarball.exists():
        start = time.monotonic()
        partial = tarball.with_suffix(".partial.tar")
        result = subprocess.run(["mmdebstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), DEBIAN, str(partial), *sources],
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"kind node: mmdebstrap failed:\n{result.stderr[-3000:]}")
        partial.replace(tarball)
        print(f"kind node: Debian {DEBIAN} root filesystem: {time.monotonic() - start:.1f}s", flush=True)
    subprocess.run(["docker", "import", "--change", f"LABEL {LABEL}={key}", str(tarball), ref], check=True, capture_output=True)
    return ref


# images/base/Dockerfile after its package install, run on the imported root filesystem: kind's files, the built
# programs, services enabled as kind enables them, and the OCI spec containerd starts pods from.
BASE_DOCKERFILE = """\
FROM {rootfs}
COPY kind-files/usr/local/bin/ /usr/local/bin/
COPY kind-files/kind/ /kind/
COPY kind-files/etc/ /etc/
COPY bin/containerd bin/ctr bin/containerd-shim-runc-v2 bin/crictl /usr/local/bin/
COPY bin/runc /usr/local/sbin/runc
COPY cni/ /opt/cni/bin/
COPY lab/ /
RUN find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \\
    && rm -f /lib/systemd/system/multi-user.target.wants/* \\
    && rm -f /etc/systemd/system/*.wants/* \\
    && rm -f /lib/systemd/system/local-fs.target.wants/* \\
    && rm -f /lib/systemd/system/sockets.target.wants/*udev* \\
    && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \\
    && rm -f /lib/systemd/system/basic.target.wants/* \\
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \\
    && ln -sf "$(which systemd)" /sbin/init \\
    && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \\
    && systemctl mask systemd-binfmt.service \\
    && mkdir -p /etc/kubernetes/manifests \\
    && cat /etc/containerd/lab-cni.toml >> /etc/containerd/config.toml && rm /etc/containerd/lab-cni.toml \\
    && ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {{"path": "/kind/bin/mount-product-files.sh"}}' \\
       | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \\
    && containerd --version && runc --version
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
LABEL {label}={fingerprint}
"""


def base_image(rootfs: str, kind_files: Path) -> str:
    """Step 2: kind's base image on the root filesystem."""
    fingerprint = digest(kind_files, NODE_BIN, NODE_FILES / "base", Path(__file__), extra=rootfs)
    ref = f"lab.local/kind-node-base:{KUBERNETES}"
    if existing_label(ref) == fingerprint:
        return ref
    with tempfile.TemporaryDirectory(prefix="lab-kind-base-") as tmp:
        context = Path(tmp)
        shutil.copytree(kind_files, context / "kind-files")
        for folder, mode in (("usr/local/bin", 0o755), ("kind/bin", 0o755)):  # the Dockerfile's --chmod
            for file in (context / "kind-files" / folder).iterdir():
                file.chmod(mode)
        (context / "bin").mkdir()
        for name in ("containerd", "ctr", "containerd-shim-runc-v2", "crictl", "runc"):
            shutil.copy2(NODE_BIN / name, context / "bin" / name)
        (context / "cni").mkdir()
        for name in ("host-local", "loopback", "ptp", "portmap"):
            shutil.copy2(NODE_BIN / name, context / "cni" / name)
        shutil.copytree(NODE_FILES / "base", context / "lab")
        (context / "Dockerfile").write_text(BASE_DOCKERFILE.format(rootfs=rootfs, label=LABEL, fingerprint=fingerprint))
        start = time.monotonic()
        result = subprocess.run(["docker", "build", "-q", "-t", ref, str(context)], capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"kind node: building {ref} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    print(f"kind node: {ref}: {time.monotonic() - start:.1f}s", flush=True)
    return ref


def component_images() -> dict[str, str]:
    """The images kubeadm and containerd need, as lab.local images of the binaries built here, by the names the node
    must know them by. The names are given only inside the node: this Docker keeps the lab.local names, so the
    official names never stand for local builds on the host."""
    image("kube-proxy", NODE_BIN / "kube-proxy", fill_extra=iptables)
    image("coredns", NODE_BIN / "coredns", entrypoint="/coredns")
    image("pause", NODE_BIN / "pause", entrypoint="/pause")
    image("metallb-speaker", NODE_BIN / "speaker", entrypoint="/speaker")
    listed = subprocess.run([str(NODE_BIN / "kubeadm"), "config", "images", "list", "--kubernetes-version", KUBERNETES],
                            capture_output=True, text=True, check=True).stdout.split()
    made = {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns", "etcd", "pause"}
    names = {}
    for name in listed:
        component = name.rsplit("/", 1)[1].split(":")[0]
        if component not in made:
            sys.exit(f"kind node: kubeadm lists {name}, which this build does not make")
        names[name] = f"lab.local/{component}:test"
    return names


def iptables(root: Path) -> None:
    """kube-proxy programs Services with iptables (nft, as Debian's default and the node's)."""
    xtables = "/usr/sbin/xtables-nft-multi"
    copy_with_libs(root, xtables, xtables)
    for name in ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"):
        os.symlink("xtables-nft-multi", root / "usr/sbin" / name)
    ext_dir = Path("/usr/lib/x86_64-linux-gnu/xtables")
    for ext in ext_dir.glob("*.so"):
        copy_with_libs(root, str(ext), str(ext))


def docker(*argv: str, stdin=None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *argv], stdin=stdin, capture_output=True, text=stdin is None)
    if check and result.returncode != 0:
        err = result.stderr if isinstance(result.stderr, str) else result.stderr.decode(errors="replace")
        sys.exit(f"kind node: docker {' '.join(argv[:3])} failed: {err.strip()[-2000:]}")
    return result


def image_id(ref: str) -> str:
    return docker("image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()


def node_image(base: str, names: dict[str, str]) -> None:
    """Step 3, as kind's nodeimage build does it: a container of the base image, the Kubernetes binaries copied in,
    containerd started to import the images (not unpacked; pinned, so the kubelet never collects them), committed."""
    binaries = [NODE_BIN / "kubeadm", NODE_BIN / "kubelet", BIN / "kubectl"]
    ids = {ref: image_id(ref) for ref in sorted(set(names.values()))}
    fingerprint = digest(*binaries, NODE_FILES / "node", Path(__file__), extra=json.dumps([image_id(base), names, ids]))
    if existing_label(NODE_IMAGE) == fingerprint:
        print(f"{NODE_IMAGE}: up to date")
        return
    start = time.monotonic()
    container = f"lab-kind-node-build-{os.getpid()}"
    docker("run", "-d", "--entrypoint=sleep", f"--name={container}", "--label", "lab.dev/build=kind-node",
           "--security-opt", "seccomp=unconfined", base, "infinity")
    try:
        for binary in binaries:
            docker("cp", str(binary), f"{container}:/usr/bin/{binary.name}")
            docker("exec", container, "chown", "root:root", f"/usr/bin/{binary.name}")
        version = subprocess.run(["docker", "exec", "-i", container, "sh", "-c", "mkdir -p /kind/manifests && cat > /kind/version"],
                                 input=KUBERNETES, text=True, capture_output=True)
        if version.returncode != 0:
            sys.exit(f"kind node: writing /kind/version failed: {version.stderr.strip()}")
        docker("cp", str(NODE_FILES / "node" / "default-cni.yaml"), f"{container}:/kind/manifests/default-cni.yaml")
        config = docker("exec", container, "cat", "/etc/containerd/config.toml").stdout
        sandbox = next(line.split("=", 1)[1].strip().strip('"') for line in config.splitlines() if line.strip().startswith("sandbox_image"))
        docker("exec", container, "bash", "-c", "nohup containerd > /dev/null 2>&1 &")
        docker("exec", container, "bash", "-c", "for i in $(seq 50); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && exit 0; sleep 0.2; done; ctr version")
        ctr = ["exec", "-i", container, "ctr", "--namespace=k8s.io"]
        for ref in ids:
            save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE)
            docker(*ctr, "images", "import", "--all-platforms", "--no-unpack", "--digests", "-", stdin=save.stdout)
            if save.wait() != 0:
                sys.exit(f"kind node: docker save {ref} failed")
        wanted = {**names, sandbox: "lab.local/pause:test"}
        for name, ref in sorted(wanted.items()):
            docker(*ctr, "images", "tag", "--force", ref, name)
            docker(*ctr, "images", "label", name, "io.cri-containerd.pinned=pinned")
        docker(*ctr, "images", "rm", *ids)  # the node knows them by the names kubeadm and containerd ask for
        # stopped before the commit, so its database is whole; it stays a zombie (sleep, PID 1, reaps nothing)
        docker("exec", container, "bash", "-c", "pkill containerd; for i in $(seq 50); do pgrep -r R,S,D,T containerd >/dev/null || exit 0; sleep 0.2; done; exit 1")
        docker("commit", "--change", 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]',
               "--change", 'ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY=""', "--change", f"LABEL {LABEL}={fingerprint}",
               container, NODE_IMAGE)
    finally:
        docker("rm", "-f", "-v", container, check=False)
    size = int(docker("image", "inspect", "-f", "{{.Size}}", NODE_IMAGE).stdout.strip())
    print(f"{NODE_IMAGE}: built in {time.monotonic() - start:.1f}s ({size // 1_000_000} MB; "
          f"{len(wanted)} images preloaded: {', '.join(sorted(wanted))})", flush=True)


def main() -> None:
    start = time.monotonic()
    if not (BIN / "kube-apiserver").exists() or not (BIN / "kubectl").exists():
        sys.exit("kind node: build the control plane first (scripts/build_components.py; make kind-node does)")
    build_binaries()
    names = component_images()
    rootfs = rootfs_image()
    base = base_image(rootfs, kind_module() / "images" / "base" / "files")
    node_image(base, names)
    print(f"kind node: {time.monotonic() - start:.1f}s ({NODE_IMAGE})")


if __name__ == "__main__":
    main()
