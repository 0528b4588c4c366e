"""The one place subprocesses run: `run(argv) -> Result`, errors carrying argv and output."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import CommandFailed, MissingPrerequisite

log = logging.getLogger("lab.process")


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class ExecResult:
    returncode: int
    stdout: str
    stderr: str


# Where `make images` (scripts/build_components.py) installs the tools it builds from their Go modules.
COMPONENTS_BIN = Path(os.environ.get("LAB_COMPONENTS_BIN", Path.home() / ".cache" / "lab" / "components" / "bin"))


def which(binary: str) -> str | None:
    return shutil.which(binary)


def which_or_built(binary: str) -> str | None:
    """binary on PATH, else the one `make images` builds from its Go module (kind, helm): one lookup for both."""
    found = which(binary)
    if found is None and (COMPONENTS_BIN / binary).is_file():
        found = str(COMPONENTS_BIN / binary)
    return found


def run(
    argv: list[str],
    *,
    check: bool = True,
    timeout: float | None = None,
    input: str | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> Result:
    log.debug("run: %s", shlex.join(argv))
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, input=input, cwd=cwd,
            env={**os.environ, **env} if env else None,
        )
    except FileNotFoundError:
        raise MissingPrerequisite(f"{argv[0]} not found on PATH") from None
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        raise CommandFailed(argv, -1, out, f"timed out after {timeout}s") from None
    result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stdout, proc.stderr)
    return result


def attach(argv: list[str]) -> int:
    """Run argv on the caller's own terminal (stdin, stdout, stderr inherited): a person's `exec`, `shell` or
    `logs -f`; its exit status, as a shell gives it (128 + signal when a signal ended it)."""
    log.debug("attach: %s", shlex.join(argv))
    try:
        code = subprocess.run(argv).returncode
    except FileNotFoundError:
        raise MissingPrerequisite(f"{argv[0]} not found on PATH") from None
    return 128 - code if code < 0 else code


# ---------------------------------------------------------------- background processes (the docker runtime's node agent)

def spawn(argv: list[str], *, log_file: Path, env: dict[str, str] | None = None) -> int:
    """Start a background process in a session of its own, its output appended to log_file; its pid."""
    log.debug("spawn: %s", shlex.join(argv))
    with open(log_file, "ab") as output:
        proc = subprocess.Popen(argv, stdout=output, stderr=output, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, **env} if env else None)
    return proc.pid


def command_line(pid: int) -> list[str] | None:
    """A running process's argv, or None when no such process runs (a zombie has none)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]] or None


def processes(matching) -> list[int]:
    """Pids of the running processes whose argv `matching` accepts."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        argv = command_line(int(entry.name))
        if argv and matching(argv):
            found.append(int(entry.name))
    return found


def stop(pids: list[int], still_running, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL to what still runs after `grace` seconds (still_running: the pids left)."""
    import signal
    import time

    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while still_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in still_running():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
