"""What the grid reports while it works: stage messages, progress, cells started and finished."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synpo_bench.config import Cell
from synpo_bench.train_settings import StepRecord


@dataclass
class CellReport:
    cell: Cell
    status: str  # done | failed | skipped (finished earlier) | busy (another live run trains it)
    result: dict[str, Any] = field(default_factory=dict)
    """The cell's ``result.json`` content (docs/CONTRACTS.md)."""


class RunObserver:
    """Hooks the CLI uses for progress display; the defaults do nothing."""

    def stage(self, message: str) -> None: ...

    def stage_progress(self, label: str, done: int, total: int) -> None: ...

    def cell_started(self, cell: Cell, total_steps: int | None) -> None: ...

    def cell_step(self, cell: Cell, step: int, record: StepRecord) -> None: ...

    def cell_finished(self, report: CellReport) -> None: ...
