"""Where each cell of a run stands, read from the run folder alone (``synpo-bench status RUN``).

    done         result.json says done
    failed       result.json says failed, or the cell's job ended without leaving a result
    running      a live process holds the cell's claim.json, or its job runs (before the cell's manifest:
                 the job is loading its task from the cache)
    interrupted  a manifest without a result and nobody training it (killed): a re-run redoes it
    pending      not started (no manifest); with submitit, its job may be queued

A submitit job's state (``run/jobs.py``) is read when the run has ``submitit/jobs.json``: it tells a dead
job's claim left on another host from a live one, and a queued cell from one nobody submitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from synpo_bench.run.claim import CLAIM_FILE, holder
from synpo_bench.run.jobs import ENDED, JOBS_FOLDER, PREPARE, JobRecord, job_outcome, job_state
from synpo_bench.run.record import load_result

STATES = ("done", "failed", "running", "interrupted", "pending")
CELL_FILES = ("manifest.json", "result.json", CLAIM_FILE)


@dataclass(frozen=True)
class CellState:
    name: str
    """The cell's folder in the run: ``vdc/dpo/seed0``."""
    state: str
    """One of ``STATES``."""
    detail: str = ""
    """Why: the failure, the claim's owner, the job and its state."""


@dataclass(frozen=True)
class RunStatus:
    cells: list[CellState]
    executor: str | None
    """The submitit executor of the run's jobs (``submitit-local``, ``slurm``); None without jobs."""
    prepare: str | None
    """The prepare job and its state, e.g. ``job 123: COMPLETED``; None without one."""

    def counts(self) -> dict[str, int]:
        return {state: sum(cell.state == state for cell in self.cells) for state in STATES}


def run_status(run_dir: Path, grid: Sequence[str] | None) -> RunStatus:
    """Every cell of ``grid`` (cell names in the grid's order; None: unknown) and every cell folder found
    in ``run_dir``."""
    found = _cell_folders(run_dir)
    names = list(dict.fromkeys([*(grid or []), *sorted(found)]))
    jobs = _Jobs(run_dir)
    return RunStatus([_cell_state(run_dir, name, jobs) for name in names], jobs.executor, jobs.prepare())


def _cell_folders(run_dir: Path) -> set[str]:
    names = set()
    for file in CELL_FILES:
        for path in run_dir.glob(f"**/{file}"):
            relative = path.parent.relative_to(run_dir)
            if relative.parts and relative.parts[0] != JOBS_FOLDER and relative.name.startswith("seed"):
                names.add(relative.as_posix())
    return names


class _Jobs:
    """The run's submitit jobs by cell name, each job's state read once."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        record = JobRecord.load(run_dir)
        self.executor = record.executor if record else None
        self.ids = record.jobs if record else {}
        self._states: dict[str, str] = {}

    def state(self, name: str) -> tuple[str, str] | None:
        """(job id, state) of the latest job for ``name``; None when no job was submitted for it."""
        job_id = self.ids.get(name)
        if job_id is None or self.executor is None:
            return None
        if job_id not in self._states:
            self._states[job_id] = job_state(self.run_dir, self.executor, job_id)
        return job_id, self._states[job_id]

    def failure(self, job_id: str) -> str:
        """What a job that ended without the cell's result said: its error's last line, or its user error."""
        outcome = job_outcome(self.run_dir, job_id)
        if outcome is None:
            return "it left no result (killed?)"
        kind, value = outcome
        if kind == "success" and isinstance(value, dict):
            return str(value.get("user_error") or value.get("status") or "no result")
        lines = [line for line in str(value).splitlines() if line.strip()]
        return lines[-1] if lines else "unknown error"

    def prepare(self) -> str | None:
        found = self.state(PREPARE)
        return None if found is None else f"job {found[0]}: {found[1]}"


def _cell_state(run_dir: Path, name: str, jobs: _Jobs) -> CellState:
    folder = run_dir / name
    result = load_result(folder)
    job = jobs.state(name)
    job_text = f"job {job[0]} {job[1]}" if job else ""
    owner = holder(folder)
    if owner is not None and not (job and job[1] in ENDED):
        return CellState(name, "running", _join(f"trained by {owner.describe()}", job_text))
    if result.get("status") == "done":
        return CellState(name, "done", job_text)
    if result.get("status") == "failed":
        error = result.get("error") or {}
        return CellState(
            name, "failed", _join(f"at step {error.get('step')}: {error.get('reason')}", job_text)
        )
    running = bool(job and job[1] == "RUNNING")
    if (folder / "manifest.json").exists():
        state = "running" if running else "interrupted"
        return CellState(name, state, _join("manifest without a result", job_text))
    if running:
        return CellState(name, "running", _join("loading its task", job_text))
    if job and job[1] in ENDED:
        return CellState(name, "failed", f"{job_text}: {jobs.failure(job[0])}")
    return CellState(name, "pending", job_text)


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)
