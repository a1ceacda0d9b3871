"""The grid: tasks x losses x seeds, one shared starting point per task, resumable, atomic results.

for each task with a cell left to run: prepare it (data, warm start, pairs, the start's evaluation)
    for each (loss, seed) not finished: claim it -> copy the start -> train -> evaluate -> result.json

A cell another live process has claimed (a second run on the same results folder) is skipped and
reported as busy; a claim left by a killed run is taken over (``run/claim.py``).

Launched as several processes (``accelerate launch``, ``torchrun``), each cell trains data-parallel: the
main process plans, claims, prepares and evaluates, and sends the others what they need (parallel.py).
"""

from __future__ import annotations

from typing import Any

from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs, InitProcessGroupKwargs

from synpo_bench.api.judges import make_judge
from synpo_bench.config import Cell, RunConfig
from synpo_bench.parallel import WAIT_TIMEOUT, from_main, process_state
from synpo_bench.run.cell import CellRunner
from synpo_bench.run.claim import CellClaim, Owner, claim, holder
from synpo_bench.run.environment import resolve_device
from synpo_bench.run.evaluate import Evaluator
from synpo_bench.run.observer import CellReport, RunObserver
from synpo_bench.run.prepare import LoadedTask, PreparedTask, TaskPreparer
from synpo_bench.run.record import is_finished, load_result
from synpo_bench.trackers import accelerator_options
from synpo_bench.validation import check_launch, validate_config

Plan = dict[str, list[tuple[Cell, dict[str, Any]]]]
"""Per task, the cells to train and the result each had when planned."""


class GridRunner:
    def __init__(self, config: RunConfig, observer: RunObserver | None = None) -> None:
        self.config = config
        self.run_dir = config.run_dir()
        self.device = resolve_device(config.device)
        check_launch(config.device)  # before a process group waits for processes that cannot start
        self.state = process_state(cpu=self.device.type == "cpu")
        if self.state.num_processes != config.processes:
            raise ValueError(f"{self.state.num_processes} processes run a config made for {config.processes}")
        if self.state.num_processes > 1:
            self.device = self.state.device  # each process its own GPU (or the CPU)
        # Only the main process shows progress; the others train in silence.
        self.observer = (observer or RunObserver()) if self.state.is_main_process else RunObserver()
        self._cells: CellRunner | None = None

    def run(self) -> list[CellReport]:
        validate_config(self.config)
        evaluator = Evaluator(
            self.config, make_judge(self.config.judge, self.config.judge_model), self.device
        )
        preparer = TaskPreparer(self.config, self.run_dir, evaluator, self.observer)
        cells = self.config.cells()
        plan, reports = from_main(self.state, lambda: self._plan(cells))  # the main process reads results
        # Every task with work left is loaded and checked before the first one trains.
        loaded = {task: preparer.load(task) for task, pending in plan.items() if pending}
        for task, pending in plan.items():
            if not pending:
                continue
            prepared = self._prepare(preparer, loaded.pop(task))
            for cell, seen in pending:
                report = self._run_claimed(prepared, cell, seen, evaluator)
                if report.status in ("done", "failed"):
                    self.observer.cell_finished(report)
                reports.append(report)
        self.state.wait_for_everyone()  # the others end with the main process, not while it evaluates
        position = {cell: index for index, cell in enumerate(cells)}
        return sorted(reports, key=lambda report: position[report.cell])

    def _plan(self, cells: list[Cell]) -> tuple[Plan, list[CellReport]]:
        """The cells left to train per task, and reports of those finished or held by another run."""
        reports: list[CellReport] = []
        plan: Plan = {}
        for task in dict.fromkeys(cell.task for cell in cells):
            pending = plan.setdefault(task, [])
            for cell in (cell for cell in cells if cell.task == task):
                result = load_result(cell.folder(self.run_dir))
                if is_finished(result, self.config.rerun):
                    reports.append(CellReport(cell, "skipped", result))
                elif (owner := holder(cell.folder(self.run_dir))) is not None:
                    reports.append(self._busy(cell, owner))
                else:
                    pending.append((cell, result))
        return plan, reports

    def _prepare(self, preparer: TaskPreparer, loaded: LoadedTask) -> PreparedTask:
        """The main process prepares the task (warm start, pairs, the start's evaluation: once) and sends
        the pairs; the others wait for them, then load the warm start from the cache it wrote."""
        prepared = from_main(self.state, lambda: preparer.prepare(loaded), share=PreparedTask.shared)
        return prepared if self.state.is_main_process else preparer.follow(loaded, prepared)

    def _run_claimed(
        self, prepared: PreparedTask, cell: Cell, seen: dict[str, Any], evaluator: Evaluator
    ) -> CellReport:
        """Train the cell under this process's claim, unless another live process holds it, or wrote
        its result while this one prepared the task (``seen``: the result found before)."""
        held, skip = from_main(
            self.state, lambda: self._claim(cell, seen), share=lambda found: (None, found[1])
        )
        if skip is not None:
            return skip
        try:
            return self._cell_runner(evaluator).run(prepared, cell)
        finally:
            if held is not None:
                held.release()

    def _claim(self, cell: Cell, seen: dict[str, Any]) -> tuple[CellClaim | None, CellReport | None]:
        """This process's claim on the cell, or the report of why it does not train it."""
        folder = cell.folder(self.run_dir)
        held = claim(folder)
        if isinstance(held, Owner):
            return None, self._busy(cell, held)
        result = load_result(folder)
        if result != seen and result.get("status") in ("done", "failed"):
            held.release()
            return None, CellReport(cell, "skipped", result)
        return held, None

    def _busy(self, cell: Cell, owner: Owner) -> CellReport:
        message = f"{cell.name}: being trained by {owner.describe()}; skipped"
        self.observer.stage(message)
        return CellReport(cell, "busy", {"claimed_by": owner.describe()})

    def _cell_runner(self, evaluator: Evaluator) -> CellRunner:
        """Built at the first cell that trains: a run whose cells are all finished needs no accelerator."""
        if self._cells is None:
            accelerator = Accelerator(
                cpu=self.device.type == "cpu",
                mixed_precision=self.config.precision,
                # Several processes: each step's batch is the whole one, split (so the schedule steps once
                # per step, not once per process); DDP finds the parameters a task leaves without a
                # gradient (a text task's frame encoder); the others may wait long for the main process.
                dataloader_config=DataLoaderConfiguration(split_batches=True),
                kwargs_handlers=[
                    DistributedDataParallelKwargs(find_unused_parameters=True),
                    InitProcessGroupKwargs(timeout=WAIT_TIMEOUT),
                ],
                **accelerator_options(self.config, self.run_dir),  # --report-to's trackers
            )
            self._cells = CellRunner(self.config, self.run_dir, evaluator, accelerator, self.observer)
        return self._cells
