"""Progress of a run on the terminal: a bar for the grid, the cell in training and each preparation
stage; plain log lines instead when the output is not a terminal (a log file, a CI job)."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from synpo_bench.cli.errors import console
from synpo_bench.config import Cell
from synpo_bench.run.observer import CellReport, RunObserver
from synpo_bench.train_settings import StepRecord


class RichObserver(RunObserver):
    """Progress for the whole grid and for the cell being trained."""

    def __init__(self, total_cells: int) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.grid = self.progress.add_task("cells", total=total_cells)
        self.current: TaskID | None = None
        self.stages: dict[str, TaskID] = {}
        self.logged_quarters: dict[str, int] = {}
        """Without a terminal: the last quarter (1-4) of each stage logged as a line."""

    def __enter__(self) -> RichObserver:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stage(self, message: str) -> None:
        self.progress.console.log(message)

    @property
    def plain(self) -> bool:
        """Output to a log file or a CI job: bars never redraw there, so progress is logged as lines."""
        return not self.progress.console.is_terminal

    def stage_progress(self, label: str, done: int, total: int) -> None:
        """A bar per preparation stage (warm start, pair sampling, judging), removed when complete."""
        quarter = 4 * done // total if total else 0
        if self.plain and quarter > self.logged_quarters.get(label, 0):
            self.logged_quarters[label] = quarter
            self.progress.console.log(f"{label}: {done}/{total}")
        if label not in self.stages:
            self.stages[label] = self.progress.add_task(label, total=total)
        self.progress.update(self.stages[label], completed=done, total=total)
        if done >= total:
            self.progress.remove_task(self.stages.pop(label))
            self.logged_quarters.pop(label, None)  # the next task's stage of the same name starts afresh

    def cell_started(self, cell: Cell, total_steps: int | None) -> None:
        if self.current is not None:
            self.progress.remove_task(self.current)
        label = cell.name
        self.current = self.progress.add_task(label, total=total_steps)

    def cell_step(self, cell: Cell, step: int, record: StepRecord) -> None:
        if self.current is not None:
            description = f"{cell.name} loss={record.get('loss', float('nan')):.4f}"
            self.progress.update(self.current, completed=step, description=description)

    def cell_finished(self, report: CellReport) -> None:
        self.progress.advance(self.grid)
        if self.plain:
            cell, cost = report.cell, report.result.get("cost", {})
            seconds = f" in {cost['wall_clock_s']:.1f} s" if "wall_clock_s" in cost else ""
            self.progress.console.log(f"{cell.name}: {report.status}{seconds}")
