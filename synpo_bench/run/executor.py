"""The grid as submitit jobs (``--executor submitit-local`` or ``slurm``): one job per cell, after one job
that prepares every task, so the warm start and the pairs are computed once and found cached by every cell.

    prepare job    every task with a cell left: data, warm start, pairs -> --cache-dir (and task.json)
    cell jobs      one per unfinished cell: the same grid code (GridRunner) on the run's config restricted
                   to that cell by ``Shard(number, cells in the grid)``; its task's warm start and pairs
                   load from the cache, and its claim.json keeps any other process off the cell

On Slurm the cells are one job array (``--max-parallel``: its ``%`` limit) that waits for the prepare job
(``afterok``) and this process returns at once: ``synpo-bench status RUN`` follows it. Under submitit's
local executor this process starts the jobs itself, at most ``--max-parallel`` at a time (1 by default:
parallel torch processes oversubscribe the cores), waits for them and reports as an in-process run does.
Job ids land in ``submitit/jobs.json`` (``run/jobs.py``). submitit is optional (``pip install -e
'.[cluster]'``): it is imported only when jobs are submitted.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil
import torch

from synpo_bench.api.errors import UserError
from synpo_bench.api.judges import make_judge
from synpo_bench.api.registry import import_plugins
from synpo_bench.config import DEFAULT_TIME_LIMIT_MIN, Cell, ExecutorSettings, RunConfig, Shard
from synpo_bench.run.claim import holder
from synpo_bench.run.environment import resolve_device
from synpo_bench.run.evaluate import Evaluator
from synpo_bench.run.grid import GridRunner
from synpo_bench.run.jobs import PREPARE, JobRecord, job_log, job_outcome, jobs_folder
from synpo_bench.run.observer import CellReport, RunObserver
from synpo_bench.run.prepare import TaskPreparer
from synpo_bench.run.record import is_finished, load_result
from synpo_bench.train_settings import StepRecord
from synpo_bench.validation import validate_config

POLL_SECONDS = 1.0
Notify = Callable[[str], None]


class Job(Protocol):
    """What this module uses of a submitit job."""

    job_id: str

    def done(self, force_check: bool = False) -> bool: ...

    def cancel(self, check: bool = True) -> None: ...


@dataclass(frozen=True)
class GridJobs:
    """What every job of a run receives (pickled by submitit): the run's settings and where to run them."""

    config: RunConfig
    """The run's config with the in-process executor and no shard: each job runs its part in-process."""
    cwd: str
    """The submitting process's folder: relative paths (--out, --data-dir, --pairs) mean the same there."""
    plugins: tuple[str, ...]
    """``--plugin`` modules, imported again in each job so their losses and tasks are registered."""

    def enter(self) -> None:
        os.chdir(self.cwd)
        import_plugins(self.plugins)

    def grid(self) -> list[Cell]:
        return self.config.cells()

    def cell_config(self, number: int) -> RunConfig:
        """The run's config restricted to cell ``number`` of the grid: the one shard of that cell."""
        return dataclasses.replace(self.config, shard=Shard(number, len(self.grid())))


class JobObserver(RunObserver):
    """A job's progress as log lines (submitit keeps its stdout), when its first step ran, and whether it
    had to compute a warm start or pairs (their progress is reported only when not loaded from the cache)."""

    def __init__(self) -> None:
        self.first_step_at: float | None = None
        self.computed: set[str] = set()

    def stage(self, message: str) -> None:
        print(message, flush=True)

    def stage_progress(self, label: str, done: int, total: int) -> None:
        self.computed.add("warm start" if label.startswith("warm start") else "pairs")
        if done == total:
            print(f"{label}: {done}/{total}", flush=True)

    def cell_step(self, cell: Cell, step: int, record: StepRecord) -> None:
        if self.first_step_at is None:
            self.first_step_at = time.time()


def prepare_job(jobs: GridJobs, tasks: Sequence[str]) -> dict[str, Any]:
    """Job 0: each task's data, warm start and pairs, into the cache (and the run's task.json)."""
    began = time.time()
    config, observer = jobs.config, JobObserver()
    try:
        jobs.enter()
        validate_config(config)  # as every grid does: this node may lack what the submitting one had
        judge = make_judge(config.judge, config.judge_model)
        evaluator = Evaluator(config, judge, resolve_device(config.device))
        preparer = TaskPreparer(config, config.run_dir(), evaluator, observer)
        loaded = [preparer.load(task) for task in tasks]  # every task checked before the first warm start
        for task in loaded:
            preparer.prepare(task)
    except UserError as error:  # the submitter shows it as the one-line mistake it is
        return {"user_error": str(error)}
    return {"tasks": list(tasks), "seconds": time.time() - began, "computed": sorted(observer.computed)}


def cell_job(jobs: GridJobs, number: int) -> dict[str, Any]:
    """One cell through the grid code, with how long the job took to reach its first optimizer step."""
    began, observer = time.time(), JobObserver()
    try:
        jobs.enter()
        (report,) = GridRunner(jobs.cell_config(number), observer).run()
    except UserError as error:
        return {"status": "failed", "user_error": str(error)}
    outcome: dict[str, Any] = {"status": report.status, "computed": sorted(observer.computed)}
    if report.status == "busy":
        outcome["claimed_by"] = report.result.get("claimed_by")
    if observer.first_step_at is not None:
        outcome["first_step_after_s"] = observer.first_step_at - began
        outcome["first_step_after_process_start_s"] = observer.first_step_at - psutil.Process().create_time()
    return outcome


@dataclass
class Plan:
    """What a submission does: the grid's numbers of the cells to train, and the reports of the others."""

    todo: list[tuple[int, Cell]]
    reports: dict[Cell, CellReport]


def plan(config: RunConfig) -> Plan:
    """The unfinished cells of this invocation (its shard of the grid), as ``GridRunner`` would find them:
    finished ones (per --rerun) are skipped, those a live process holds are busy."""
    run_dir, mine = config.run_dir(), set(config.cells())
    whole = dataclasses.replace(config, shard=Shard()).cells()
    todo, reports = [], {}
    for number, cell in enumerate(whole):
        if cell not in mine:
            continue
        result = load_result(cell.folder(run_dir))
        if is_finished(result, config.rerun):
            reports[cell] = CellReport(cell, "skipped", result)
        elif (owner := holder(cell.folder(run_dir))) is not None:
            reports[cell] = CellReport(cell, "busy", {"claimed_by": owner.describe()})
        else:
            todo.append((number, cell))
    return Plan(todo, reports)


def submit_grid(config: RunConfig, plugins: Sequence[str], notify: Notify) -> list[CellReport] | None:
    """Submit the prepare job and one job per unfinished cell (``config.executor`` says where). Under
    submitit-local, wait for them and return every cell's report in the grid's order; on Slurm, return
    None once they are queued."""
    import submitit  # optional: pip install -e '.[cluster]' (validation checked it is installed)

    settings, run_dir = config.executor, config.run_dir()
    local = settings.kind == "submitit-local"
    work = plan(config)
    if not work.todo:
        notify("every cell is finished or being trained elsewhere: nothing to submit")
        return _reports(config, work, {}) if local else None
    jobs = GridJobs(
        dataclasses.replace(config, executor=ExecutorSettings(), shard=Shard()), os.getcwd(), tuple(plugins)
    )
    executor = submitit.AutoExecutor(folder=jobs_folder(run_dir), cluster="local" if local else "slurm")
    executor.update_parameters(**_parameters(settings, config.resolved_run_id()))
    record = JobRecord.load(run_dir) or JobRecord(settings.kind)
    record.executor = settings.kind
    tasks = list(dict.fromkeys(cell.task for _, cell in work.todo))
    prepare = executor.submit(prepare_job, jobs, tasks)
    record.add(run_dir, PREPARE, str(prepare.job_id))
    notify(f"prepare ({', '.join(tasks)}): job {prepare.job_id}")
    if not local:
        _submit_array(executor, jobs, work, record, run_dir, prepare, notify)
        return None
    failure = _wait_prepare(prepare, run_dir, notify)
    if failure is not None:  # no cell would find its task prepared: each is reported failed with it
        return _reports(config, work, {cell: failure for _, cell in work.todo})
    outcomes = _run_window(executor, jobs, work, record, run_dir, settings.max_parallel or 1, notify)
    return _reports(config, work, outcomes)


def _parameters(settings: ExecutorSettings, run_id: str) -> dict[str, Any]:
    """submitit's ``update_parameters`` for every job: generic keys, and the ``slurm_`` ones Slurm reads."""
    parameters: dict[str, Any] = {
        "name": f"synpo-bench-{run_id}",
        "timeout_min": settings.time_limit_min or DEFAULT_TIME_LIMIT_MIN,
        "nodes": 1,
        "tasks_per_node": 1,
        "gpus_per_node": settings.gpus_per_cell,  # None (left out by submitit) under Slurm: no GPU asked
    }
    if settings.kind == "submitit-local" and settings.gpus_per_cell is None:
        # submitit-local hides every GPU it is not given (CUDA_VISIBLE_DEVICES): by default, all of them
        parameters["gpus_per_node"] = torch.cuda.device_count()
    if settings.kind == "slurm":
        parameters["slurm_partition"] = settings.partition
        parameters["slurm_array_parallelism"] = settings.max_parallel
        parameters["slurm_additional_parameters"] = dict(settings.slurm_options)
    return parameters


def _submit_array(
    executor: Any, jobs: GridJobs, work: Plan, record: JobRecord, run_dir: Path, prepare: Job, notify: Notify
) -> None:
    """The cells as one Slurm job array that starts once the prepare job succeeded (and is cancelled if
    it fails: ``kill-on-invalid-dep``)."""
    extra = {**executor.parameters.get("additional_parameters", {})}
    extra.update(dependency=f"afterok:{prepare.job_id}", kill_on_invalid_dep="yes")
    executor.update_parameters(slurm_additional_parameters=extra)
    numbers = [number for number, _ in work.todo]
    array = executor.map_array(cell_job, [jobs] * len(numbers), numbers)
    for (_, cell), job in zip(work.todo, array, strict=True):
        record.add(run_dir, cell.name, str(job.job_id))
    notify(
        f"{len(array)} cell(s): job array {str(array[0].job_id).split('_')[0]}, after job {prepare.job_id}"
    )


def _wait_prepare(prepare: Job, run_dir: Path, notify: Notify) -> dict[str, Any] | None:
    """Wait for the prepare job: None when it succeeded, else the outcome its failure gives every cell; a
    mistake in the data it loaded (a ``UserError``) is raised as the one-line mistake it is."""
    try:
        while not prepare.done():
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        prepare.cancel(check=False)
        raise
    outcome = _outcome(run_dir, prepare.job_id)
    if "user_error" in outcome:
        raise UserError(outcome["user_error"])
    if "error" in outcome:
        notify(f"prepare: job {prepare.job_id} failed: {outcome['error']}")
        return {"error": f"the prepare job {prepare.job_id} failed: {outcome['error']}"}
    computed = " and ".join(outcome["computed"]) or "nothing"
    notify(f"prepare: done in {outcome['seconds']:.1f} s (computed: {computed}; the rest from the cache)")
    return None


def _run_window(
    executor: Any, jobs: GridJobs, work: Plan, record: JobRecord, run_dir: Path, limit: int, notify: Notify
) -> dict[Cell, dict[str, Any]]:
    """submitit's local executor starts every job it is given at once: hand it ``limit`` at a time."""
    waiting, running = deque(work.todo), {}
    outcomes: dict[Cell, dict[str, Any]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < limit:
                number, cell = waiting.popleft()
                job = executor.submit(cell_job, jobs, number)
                record.add(run_dir, cell.name, str(job.job_id))
                running[cell] = job
                notify(f"{cell.name}: job {job.job_id}")
            for cell, job in [(c, j) for c, j in running.items() if j.done()]:
                del running[cell]
                outcomes[cell] = _outcome(run_dir, job.job_id)
                notify(_describe(cell, outcomes[cell]))
            time.sleep(POLL_SECONDS if running else 0)
    except KeyboardInterrupt:
        for job in running.values():
            job.cancel(check=False)  # the cell keeps its manifest without a result: a re-run redoes it
        raise
    return outcomes


def _outcome(run_dir: Path, job_id: str) -> dict[str, Any]:
    """The job's returned dict, or ``{"error": the traceback's last line}`` when it raised or vanished."""
    found = job_outcome(run_dir, job_id)
    if found is not None and found[0] == "success" and isinstance(found[1], dict):
        return found[1]
    lines = [line for line in str(found[1]).splitlines() if line.strip()] if found else []
    reason = lines[-1] if lines else "it ended without a result (killed?)"
    return {"error": f"{reason} (log: {job_log(run_dir, job_id)})"}


def _describe(cell: Cell, outcome: dict[str, Any]) -> str:
    if "error" in outcome or "user_error" in outcome:
        return f"{cell.name}: job failed: {outcome.get('user_error') or outcome['error']}"
    text = f"{cell.name}: {outcome['status']}"
    if "first_step_after_s" in outcome:
        text += (
            f"; first step {outcome['first_step_after_s']:.1f} s after the job started "
            f"({outcome['first_step_after_process_start_s']:.1f} s after its process started)"
        )
    cached = [part for part in ("warm start", "pairs") if part not in outcome.get("computed", [])]
    return text + (f"; {' and '.join(cached)} from the cache" if cached else "")


def _reports(config: RunConfig, work: Plan, outcomes: dict[Cell, dict[str, Any]]) -> list[CellReport]:
    """Every cell of this invocation as the in-process grid reports it: from its result.json, or from its
    job's outcome when it left none (a busy cell, a job that failed outside the cell's own handling)."""
    reports = dict(work.reports)
    for _, cell in work.todo:
        outcome = outcomes.get(cell, {})
        result = load_result(cell.folder(config.run_dir()))
        if outcome.get("status") == "busy":
            reports[cell] = CellReport(cell, "busy", {"claimed_by": outcome.get("claimed_by")})
        elif result.get("status") in ("done", "failed"):
            status = "skipped" if outcome.get("status") == "skipped" else str(result["status"])
            reports[cell] = CellReport(cell, status, result)
        else:
            reason = outcome.get("user_error") or outcome.get("error") or "the job left no result"
            reports[cell] = CellReport(cell, "failed", {"error": {"step": None, "reason": reason}})
    return [reports[cell] for cell in config.cells()]
