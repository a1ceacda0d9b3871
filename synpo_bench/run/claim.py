"""A cell's claim: the lock file that says which process trains it, so two runs never train one cell.

Before a cell trains, its runner creates ``claim.json`` in the cell's folder (``O_CREAT | O_EXCL``, so of
two processes only one succeeds) holding its pid, host and start time, and removes it when the cell
ends. A second run on the same results folder, on this machine or another sharing the folder, finds the
claim and skips the cell. A claim whose process is dead (same host, no such pid, or a pid reused by a
later process) is stale, left by a kill: it is taken over. A claim from another host cannot be checked
from here and counts as live; delete its ``claim.json`` if that run is known to be dead.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synpo_bench.api.io import check_disk_full

CLAIM_FILE = "claim.json"


@dataclass(frozen=True)
class Owner:
    """Who holds a claim, as written in ``claim.json``."""

    pid: int
    host: str
    started: str
    """The process's start time (Linux clock ticks since boot; "" elsewhere): tells a reused pid apart."""
    token: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def _start_time(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the command name


def _me() -> Owner:
    pid = os.getpid()
    return Owner(pid, socket.gethostname(), _start_time(pid), uuid.uuid4().hex)


def _alive(owner: Owner) -> bool:
    """Whether the claim's process still runs; a process on another host is assumed alive."""
    if owner.host != socket.gethostname():
        return True
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    started = _start_time(owner.pid)
    return not (owner.started and started and started != owner.started)


def _read(path: Path) -> Owner | None:
    """The claim in ``path``; None when there is none or it is unreadable (a half-written claim)."""
    try:
        payload: Any = json.loads(path.read_text(encoding="utf-8"))
        return Owner(
            int(payload["pid"]), str(payload["host"]), str(payload["started"]), str(payload["token"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


class CellClaim:
    """This process's claim on one cell folder; ``release`` removes it (only if it is still ours)."""

    def __init__(self, path: Path, owner: Owner) -> None:
        self.path = path
        self.owner = owner

    def release(self) -> None:
        if (held := _read(self.path)) is not None and held.token == self.owner.token:
            self.path.unlink(missing_ok=True)


def holder(folder: Path) -> Owner | None:
    """The live process (other than this one) that holds the cell, or None."""
    owner = _read(folder / CLAIM_FILE)
    if owner is None or not _alive(owner):
        return None
    return None if (owner.pid, owner.host) == (os.getpid(), socket.gethostname()) else owner


def claim(folder: Path) -> CellClaim | Owner:
    """Claim the cell in ``folder``: a ``CellClaim`` when this process may train it, else the live
    ``Owner`` that trains it. A stale claim (its process is dead) is taken over."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CLAIM_FILE
    me = _me()
    for _ in range(3):  # a stale claim removed, or a half-written one of a racing process, is retried
        if _create(path, me):
            return CellClaim(path, me)
        owner = _read(path)
        if owner is not None and _alive(owner):
            return owner
        _take_over(path, owner)
    owner = _read(path)
    return owner if owner is not None else Owner(0, "an unknown host", "", "")


def _create(path: Path, owner: Owner) -> bool:
    """Write the claim beside ``path``, then link it into place: the link fails if a claim exists, so
    of two racing processes exactly one wins, and a claim is never seen half-written."""
    payload = {"pid": owner.pid, "host": owner.host, "started": owner.started, "token": owner.token}
    temp = path.with_name(f".{CLAIM_FILE}.{owner.token}.tmp")
    try:
        with temp.open("w", encoding="utf-8") as file:
            json.dump(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError as error:
        check_disk_full(error, path.parent)
        raise
    finally:
        temp.unlink(missing_ok=True)
    return True


def _take_over(path: Path, stale: Owner | None) -> None:
    """Remove a dead process's claim; one that changed since it was read (a racing process took it
    over first) is put back untouched."""
    aside = path.with_name(f".{CLAIM_FILE}.{os.getpid()}.stale")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return
    moved = _read(aside)
    if stale is not None and (moved is None or moved.token != stale.token):
        with contextlib.suppress(OSError):  # not ours to remove; fails harmlessly if a newer claim exists
            os.link(aside, path)
    aside.unlink(missing_ok=True)
