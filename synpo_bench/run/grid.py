"""The grid: tasks x losses x seeds, one shared starting point per task, resumable, atomic results.

for each task with a cell left to run: prepare it (data, warm start, pairs, the start's evaluation)
    for each (loss, seed) not finished: claim it -> copy the start -> train -> evaluate -> result.json

A cell another live process has claimed (a second run on the same results folder) is skipped and
reported as busy; a claim left by a killed run is taken over (``run/claim.py``).
"""

from __future__ import annotations

from typing import Any

from accelerate import Accelerator

from synpo_bench.api.judges import make_judge
from synpo_bench.config import Cell, RunConfig
from synpo_bench.run.cell import CellRunner
from synpo_bench.run.claim import Owner, claim, holder
from synpo_bench.run.environment import resolve_device
from synpo_bench.run.evaluate import Evaluator
from synpo_bench.run.observer import CellReport, RunObserver
from synpo_bench.run.prepare import PreparedTask, TaskPreparer
from synpo_bench.run.record import is_finished, load_result
from synpo_bench.trackers import accelerator_options
from synpo_bench.validation import validate_config


class GridRunner:
    def __init__(self, config: RunConfig, observer: RunObserver | None = None) -> None:
        self.config = config
        self.observer = observer or RunObserver()
        self.run_dir = config.run_dir()
        self.device = resolve_device(config.device)
        self._cells: CellRunner | None = None

    def run(self) -> list[CellReport]:
        validate_config(self.config)
        evaluator = Evaluator(
            self.config, make_judge(self.config.judge, self.config.judge_model), self.device
        )
        preparer = TaskPreparer(self.config, self.run_dir, evaluator, self.observer)
        reports: list[CellReport] = []
        cells = self.config.cells()
        plan: dict[str, list[tuple[Cell, dict[str, Any]]]] = {}
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
        # Every task with work left is loaded and checked before the first one trains.
        loaded = {task: preparer.load(task) for task, pending in plan.items() if pending}
        for task, pending in plan.items():
            if not pending:
                continue
            prepared = preparer.prepare(loaded.pop(task))
            for cell, seen in pending:
                report = self._run_claimed(prepared, cell, seen, evaluator)
                if report.status in ("done", "failed"):
                    self.observer.cell_finished(report)
                reports.append(report)
        position = {cell: index for index, cell in enumerate(cells)}
        return sorted(reports, key=lambda report: position[report.cell])

    def _run_claimed(
        self, prepared: PreparedTask, cell: Cell, seen: dict[str, Any], evaluator: Evaluator
    ) -> CellReport:
        """Train the cell under this process's claim, unless another live process holds it, or wrote
        its result while this one prepared the task (``seen``: the result found before)."""
        folder = cell.folder(self.run_dir)
        held = claim(folder)
        if isinstance(held, Owner):
            return self._busy(cell, held)
        try:
            result = load_result(folder)
            if result != seen and result.get("status") in ("done", "failed"):
                return CellReport(cell, "skipped", result)
            return self._cell_runner(evaluator).run(prepared, cell)
        finally:
            held.release()

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
                **accelerator_options(self.config, self.run_dir),  # --report-to's trackers
            )
            self._cells = CellRunner(self.config, self.run_dir, evaluator, accelerator, self.observer)
        return self._cells
