"""What the launcher said: how many processes ``accelerate launch`` / ``torchrun`` (or mpirun) started, and
which one this is, read from the environment they set, before any process group exists.

Light on purpose (no torch): the CLI reads it to print a user error once, on the main process only.
"""

from __future__ import annotations

import os

WORLD_SIZE_VARS = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
"""The launchers' process count, as accelerate's ``PartialState`` reads it (torchrun, then MPI flavours)."""
RANK_VARS = ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
LOCAL_SIZE_VARS = ("LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS")
"""Processes on this machine (torchrun's ``LOCAL_WORLD_SIZE``, or the MPI equivalents)."""
TRUE = ("1", "true", "yes", "y", "on")


def _first_int(names: tuple[str, ...], default: int) -> int:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value.lstrip("-").isdigit():
            return int(value)
    return default


def launched_processes() -> int:
    """Processes the launcher started for this run, all machines together (1 without a launcher)."""
    return max(1, _first_int(WORLD_SIZE_VARS, 1))


def processes_on_this_machine() -> int:
    return max(1, _first_int(LOCAL_SIZE_VARS, launched_processes()))


def is_main_launch_process() -> bool:
    """Whether this is the launch's process 0 (the one that prints and writes); True without a launcher."""
    return _first_int(RANK_VARS, 0) == 0


def launch_flag(name: str) -> bool:
    """An ``ACCELERATE_*`` switch ``accelerate launch`` sets from its config (``ACCELERATE_USE_FSDP``)."""
    return os.environ.get(name, "").strip().lower() in TRUE
