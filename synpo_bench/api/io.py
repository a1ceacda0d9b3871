"""Atomic file writes: a result is either complete on disk or absent, never half-written."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import stat
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from synpo_bench.api.errors import UserError

T = TypeVar("T")


def write_text_atomic(path: Path, text: str) -> None:
    """``text`` into ``path`` whole or not at all; a full disk is a ``DiskFullError`` naming the folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = create_temp_file(path)
    except OSError as error:
        check_disk_full(error, path.parent)
        raise
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException as error:
        Path(temp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            check_disk_full(error, path.parent)
        raise


class DiskFullError(UserError):
    """The disk (or quota) under a folder being written is full: one line naming the folder."""


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def check_disk_full(error: OSError, folder: Path) -> None:
    """Raise ``DiskFullError`` naming ``folder`` when ``error`` says its disk or quota is full; files
    already complete (finished cells, written atomically) stay as they are."""
    if error.errno in NO_SPACE:
        raise DiskFullError(
            f"no space left on the disk of {folder} ({os.strerror(error.errno)}): results finished so "
            "far are kept; free some space and run the same command again to resume"
        ) from None


def create_temp_file(path: Path) -> tuple[int, str]:
    """A new, empty, hidden temporary file beside ``path``, open for writing: (descriptor, path).

    Not ``tempfile.mkstemp``: that makes the file 0600, and the rename would keep it, so results would
    be private whatever the user's umask. Created with 0666 here, the kernel applies the umask (and a
    folder's default ACL), as for any other file the user writes.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    return _create_beside(path, lambda temp: (os.open(temp, flags, 0o666), str(temp)))


def create_temp_dir(path: Path) -> Path:
    """A new, empty, hidden temporary folder beside ``path``, to fill and rename into place.

    Not ``tempfile.mkdtemp`` (0700, kept by the rename): created with 0777, so the umask decides.
    """

    def make(temp: Path) -> Path:
        temp.mkdir(0o777)
        return temp

    return _create_beside(path, make)


def follow_umask(folder: Path) -> None:
    """Give everything under ``folder`` (from ``create_temp_dir``) the modes the user's umask gives.

    Libraries that write through their own temporary files (safetensors, in ``save_pretrained``) leave
    them 0600. A new file made here tells the file mode without touching the process's umask (reading it
    means setting it, which races with other threads); ``folder`` itself tells the folder mode.
    """
    handle, probe = create_temp_file(folder / "mode-probe")
    os.close(handle)
    file_mode = stat.S_IMODE(os.stat(probe).st_mode)
    os.unlink(probe)
    folder_mode = stat.S_IMODE(folder.stat().st_mode)
    for path in folder.rglob("*"):
        if not path.is_symlink():
            path.chmod(folder_mode if path.is_dir() else file_mode)


def _create_beside(path: Path, create: Callable[[Path], T]) -> T:
    """``create`` a free hidden name beside ``path`` (``create`` raises FileExistsError when taken)."""
    for _ in range(100):
        try:
            return create(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def content_hash(payload: Any, length: int = 12) -> str:
    """A short, stable hash of JSON-able content (sorted keys), for cache keys and run ids."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


Warn = Callable[[str], None]
"""Where a cache reports, in one line, an entry it could not use (the run's observer on the CLI)."""


def python_warning(message: str) -> None:
    """The default ``Warn`` outside a run: a Python ``RuntimeWarning``."""
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def one_line(error: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message``, cut to ``limit`` characters, for a one-line report."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
