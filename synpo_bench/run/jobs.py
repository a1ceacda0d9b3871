"""The submitit jobs of a run: which job trains which cell (``submitit/jobs.json``), and each job's state.

The submitting process records every job it submits in ``<run>/submitit/jobs.json``; submitit keeps each
job's pickles and logs beside it (``<job id>_0_log.out``, ``<job id>_0_result.pkl``). ``synpo-bench
status`` reads both: a job's result pickle says it ended (``COMPLETED`` or ``FAILED``); before that,
``sacct`` (Slurm) or the job's controller process (submitit's local executor) says whether it still runs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from synpo_bench.api.io import read_json, write_json_atomic

if TYPE_CHECKING:
    from submitit.core.utils import JobPaths

JOBS_FOLDER = "submitit"
JOBS_FILE = "jobs.json"
PREPARE = "prepare"
"""The key of the job that prepares every task (warm start, pairs) before the cells' jobs start."""
ENDED = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "INTERRUPTED"}
)
"""Job states after which the job's process is gone, whatever a cell's claim still says."""


def jobs_folder(run_dir: Path) -> Path:
    """submitit's folder for the run's jobs: pickles, logs, sbatch files."""
    return run_dir / JOBS_FOLDER


@dataclass
class JobRecord:
    """``jobs.json``: the executor and, by cell name (and ``prepare``), the latest job that runs it."""

    executor: str
    jobs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, run_dir: Path) -> JobRecord | None:
        try:
            payload: Any = read_json(jobs_folder(run_dir) / JOBS_FILE)
            return cls(str(payload["executor"]), {str(k): str(v) for k, v in payload["jobs"].items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def add(self, run_dir: Path, name: str, job_id: str) -> None:
        """Record ``job_id`` for ``name`` (a re-submission replaces the earlier job) and save at once, so a
        status read while the grid runs sees every job started so far."""
        self.jobs[name] = job_id
        payload = {
            "executor": self.executor,
            "jobs": self.jobs,
            "updated_at": datetime.now(timezone.utc).isoformat(),
        }
        write_json_atomic(jobs_folder(run_dir) / JOBS_FILE, payload)


def job_outcome(run_dir: Path, job_id: str) -> tuple[str, Any] | None:
    """``("success", returned value)`` or ``("error", traceback text)`` once the job ended; else None."""
    from submitit.core.utils import pickle_load

    path = _paths(run_dir, job_id).result_pickle
    if not path.exists():
        return None
    try:
        outcome, value = pickle_load(path)
    except Exception:  # a result being written, or from another submitit version
        return None
    return str(outcome), value


def _paths(run_dir: Path, job_id: str) -> JobPaths:
    from submitit.core.utils import JobPaths  # optional (the cluster extra): only a run with jobs gets here

    return JobPaths(jobs_folder(run_dir), job_id=job_id)


def job_log(run_dir: Path, job_id: str) -> Path:
    """The job's stderr, where a failure's traceback is."""
    return _paths(run_dir, job_id).stderr


def job_state(run_dir: Path, executor: str, job_id: str) -> str:
    """``COMPLETED`` / ``FAILED`` once the job left its result; before that, Slurm's state (``PENDING``,
    ``RUNNING``, ...; ``SUBMITTED`` when ``sacct`` is not here) or, for a local job, ``RUNNING`` while its
    controller process lives and ``INTERRUPTED`` after."""
    outcome = job_outcome(run_dir, job_id)
    if outcome is not None:
        return "COMPLETED" if outcome[0] == "success" else "FAILED"
    if executor == "slurm":
        return _slurm_state(run_dir, job_id)
    return "RUNNING" if _local_job_alive(job_id) else "INTERRUPTED"


def _slurm_state(run_dir: Path, job_id: str) -> str:
    if shutil.which("sacct") is None:
        return "SUBMITTED"
    from submitit import SlurmJob

    state = SlurmJob(jobs_folder(run_dir), job_id).state  # one sacct call, cached by submitit's watcher
    return state.split()[0] if state else "UNKNOWN"  # "CANCELLED by 123" -> "CANCELLED"


def _local_job_alive(job_id: str) -> bool:
    """A local job's id is its controller's pid: alive while that pid runs submitit's controller."""
    try:
        command = psutil.Process(int(job_id)).cmdline()
    except (ValueError, psutil.Error):
        return False
    return any("submitit" in part for part in command)
