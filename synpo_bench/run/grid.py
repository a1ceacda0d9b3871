"""The grid: tasks x losses x seeds, one shared starting point per task, resumable, atomic results.

for each task with a cell left to run: prepare it (data, warm start, pairs, the start's evaluation)
    for each (loss, seed) not finished: copy the start -> train -> evaluate -> result.json
"""

from __future__ import annotations

from accelerate import Accelerator

from synpo_bench.api.judges import make_judge
from synpo_bench.config import Cell, RunConfig
from synpo_bench.run.cell import CellRunner
from synpo_bench.run.environment import resolve_device
from synpo_bench.run.evaluate import Evaluator
from synpo_bench.run.observer import CellReport, RunObserver
from synpo_bench.run.prepare import TaskPreparer
from synpo_bench.run.record import is_finished, load_result
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
        for task in dict.fromkeys(cell.task for cell in cells):
            pending: list[Cell] = []
            for cell in (cell for cell in cells if cell.task == task):
                result = load_result(cell.folder(self.run_dir))
                if is_finished(result, self.config.rerun):
                    reports.append(CellReport(cell, "skipped", result))
                else:
                    pending.append(cell)
            if not pending:
                continue
            prepared = preparer.prepare(task)
            for cell in pending:
                report = self._cell_runner(evaluator).run(prepared, cell)
                self.observer.cell_finished(report)
                reports.append(report)
        return reports

    def _cell_runner(self, evaluator: Evaluator) -> CellRunner:
        """Built at the first cell that trains: a run whose cells are all finished needs no accelerator."""
        if self._cells is None:
            accelerator = Accelerator(cpu=self.device.type == "cpu", mixed_precision=self.config.precision)
            self._cells = CellRunner(self.config, self.run_dir, evaluator, accelerator, self.observer)
        return self._cells
