"""The end-of-run summary ``synpo-bench run`` prints after the grid, drawn by the report's own code.

The run folder is read with the report's reader (``load_results``), restricted to the cells this
invocation ran or found cached, summarised by ``build_report`` and drawn as one compact ``Grid`` per task
(``grids.summary_grid``, split like the report's tables when wider than a page): per loss the task's
headline metrics (``report.headline_metrics``), the win rate over the starting model, time per step,
tokens/s and peak memory, the seeds and statuses, and the ``(start)`` row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from rich.console import RenderableType
from rich.text import Text

from synpo_bench.reports.grids import summary_grid
from synpo_bench.reports.layout import fitted
from synpo_bench.reports.reading import load_results
from synpo_bench.reports.render import rich_grid
from synpo_bench.reports.report import Report, build_report
from synpo_bench.reports.results import ResultsError
from synpo_bench.reports.tuning import describe_setting


class CellName(Protocol):
    """What names a cell of the grid (the engine's ``Cell`` has these fields)."""

    @property
    def task(self) -> str: ...

    @property
    def loss(self) -> str: ...

    @property
    def seed(self) -> int: ...


def run_summary(
    run_dir: Path, cells: Sequence[CellName], cached: Sequence[CellName] = ()
) -> list[RenderableType]:
    """One table per task of ``cells`` (in their order), with its notes; ``cached`` are the cells this
    invocation did not train because an earlier one finished them."""
    try:
        results = load_results(run_dir)
    except ResultsError as error:
        return [Text(f"no summary: {error}", style="yellow")]
    names = [(cell.task, cell.loss, cell.seed) for cell in cells]
    selected = results.only(names)
    if selected.cells.empty:
        return [Text(f"no summary: none of this run's cells is in {run_dir}", style="yellow")]
    report = build_report(selected)
    parts: list[RenderableType] = []
    for task in dict.fromkeys(task for task, _, _ in names):
        info = report.task(task)
        if info is None:
            continue
        cached_per_loss = Counter(cell.loss for cell in cached if cell.task == task)
        for grid in fitted(summary_grid(report, info, info.headline, cached_per_loss)):
            parts += rich_grid(grid)
        parts += _tuned_lines(report, task)
    if results.warnings:
        parts.append(
            Text(
                f"{len(results.warnings)} warning(s) reading {run_dir}; `synpo-bench report` lists them",
                style="yellow",
            )
        )
    return parts


def _tuned_lines(report: Report, task: str) -> list[RenderableType]:
    """A tuned task: each loss's chosen setting, chosen by what, and what tuning cost beside it."""
    tuning = report.tuning.tasks.get(task) if report.tuning is not None else None
    if tuning is None:
        return []
    title = f"{task}: tuned, chosen by {tuning.metric} on the validation part (the table: test part)"
    lines = [Text(title)]
    for choice in tuning.choices:
        chosen = describe_setting(choice.chosen) if choice.chosen else "none (no validation score)"
        lines.append(
            Text(
                f"  {choice.loss}: {chosen}; training {choice.wall_clock_all_s:.1f} s for "
                f"{len(choice.settings)} settings, {choice.wall_clock_chosen_s:.1f} s for the chosen one"
            )
        )
    return [*lines, Text("")]
