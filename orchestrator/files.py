"""Files the tool reads and writes, the one way each is done.

Reads are bounded for real: a file is opened without blocking (a FIFO cannot hang us), must be a regular file
(a device reports size 0 and never ends), and at most limit + 1 bytes are read. Every path built from input is
proven inside its root before it is touched. Writes are atomic (temp file + rename) with their final mode from
the start. Folders that several commands may write at once are locked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from orchestrator.errors import BadInput

MAX_INPUT_BYTES = 1024 * 1024  # a hand-written file (spec, values, template, certificate): 1 MiB is plenty
MAX_RECORD_BYTES = 4 * 1024 * 1024  # the tool's own records (state, results, rendered files read back)


class ReadRefused(BadInput):
    """An input file that is not a readable regular file of acceptable size (exit 2, naming it)."""


def _open_regular(path: Path, what: str) -> int:
    """An fd of a regular file, opened without blocking (a FIFO with no writer cannot hang the open)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ReadRefused(f"{path}: cannot read {what}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else \
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file"
        raise ReadRefused(f"{path}: {what} must be a regular file, not {kind}")
    return fd


def require_regular_file(path: Path, what: str) -> int:
    """The size of a regular file (a bundle handed to another tool), refused when it is anything else."""
    fd = _open_regular(path, what)
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def read_bounded(path: Path, what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else is refused, naming the file."""
    fd = _open_regular(path, what)
    try:
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ReadRefused(f"{path}: cannot read {what}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise ReadRefused(f"{path}: {what} is larger than {limit} bytes; at most {limit} are accepted")
    return b"".join(chunks)


def read_tail(path: Path, what: str, limit: int) -> str:
    """The last `limit` bytes of a regular file (a log), as text."""
    fd = _open_regular(path, what)
    try:
        size = os.fstat(fd).st_size
        os.lseek(fd, max(0, size - limit), os.SEEK_SET)
        return os.read(fd, limit).decode("utf-8", errors="replace")
    finally:
        os.close(fd)


def read_text_bounded(path: Path, what: str, limit: int = MAX_INPUT_BYTES) -> str:
    raw = read_bounded(path, what, limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ReadRefused(f"{path}: {what} is not UTF-8 text (line {line}, byte {exc.start})") from None


def schema_problem(data, schema: dict) -> str | None:
    """The first way a record the tool reads back breaks its JSON schema (field and why), or None."""
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return None
    where = ".".join(str(p) for p in errors[0].absolute_path) or "(top level)"
    return f"{where}: {errors[0].message[:200]}"


def inside(root: Path, path: Path, what: str) -> Path:
    """`path` resolved (symlinks followed), proven to lie under `root` resolved; refused otherwise."""
    real_root = root.resolve()
    real = (root / path).resolve() if not path.is_absolute() else path.resolve()
    if real != real_root and real_root not in real.parents:
        raise BadInput(f"{what}: {str(path)[:200]} is outside {root}")
    return real


def child(root: Path, relative: str, what: str) -> Path:
    """root/relative for a relative path of plain names (no absolute path, no `..`, no empty part), inside root."""
    parts = relative.split("/")
    if not relative or relative.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in relative or "\\" in relative:
        raise BadInput(f"{what}: {relative[:200]!r} is not a relative path inside {root}")
    return inside(root, Path(relative), what)


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Never leaves a half-written file: write a temp file with the final mode, fsync, rename over."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError):
        raise BadInput(f"{path.parent}: cannot be a folder (a file is in the way)") from None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_folder(path: Path, what: str, mode: int | None = None) -> Path:
    """A folder the tool writes into, made when absent; a file in the way is the user's error, named."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError):
        raise BadInput(f"{what}: {path} cannot be a folder (a file is in the way)") from None
    except OSError as exc:
        raise BadInput(f"{what}: cannot create {path}: {exc.strerror}") from None
    if not path.is_dir():
        raise BadInput(f"{what}: {path} is not a folder")
    if mode is not None:
        os.chmod(path, mode)
    return path


def writable_folder(path: Path, what: str) -> Path:
    """Refuse, before anything is written, a folder that cannot be: a file in its place or in one of its parents."""
    if path.exists() and not path.is_dir():
        raise BadInput(f"{what} {path}: exists and is not a folder")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise BadInput(f"{what} {path}: {parent} is a file, not a folder")
            break
    return path


def remove_tree(path: Path) -> None:
    """Remove a folder the tool made; absent is fine. A symlink is removed as a link, never followed."""
    if path.is_symlink():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


@contextlib.contextmanager
def locked(folder: Path, what: str, *, wait: bool = True, shared: bool = False) -> Iterator[None]:
    """An exclusive lock on a folder the tool writes (a PKI, a render's output), held by an open lock file
    beside it: two commands writing one folder at once would leave a mix of both. Shared: many holders at once,
    none of them beside an exclusive one."""
    lock_file = folder.parent / f".{folder.name}.lock"
    ensure_folder(folder.parent, what)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise BadInput(f"{what}: {folder} is being written by another lab command; try again when it ends") from None
            raise
        yield
    finally:
        os.close(fd)  # closing releases the lock
