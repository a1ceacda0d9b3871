"""The order of a report's tables, and their fit: no table wider than ``PAGE_COLUMNS`` characters.

Per task: the headline table, a tuned run's settings (reports.tuning_tables), the paired comparisons
(vs the baseline loss, vs the start), the cost, then every metric in groups (reports.grids). A table
wider than the page (many losses) is cut into parts by columns, each part repeating the first column
(the loss or metric names), so a terminal, a markdown viewer or a browser never folds or scrolls a
table; ``grid_width`` is the width rich and markdown draw.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len

from synpo_bench.reports.grids import Grid, cost_grid, headline_grid, metric_grids, paired_grids
from synpo_bench.reports.report import Report, TaskInfo
from synpo_bench.reports.tuning_tables import tuned_headline, tuning_grids

PAGE_COLUMNS = 140
"""The widest a table may be, in characters: a wide terminal, and what fits a 1400 px page. Also the
width of the terminal output when stdout is not a terminal (piped into a file or a pager)."""


@dataclass(frozen=True)
class TaskTables:
    """A task's tables, each already fitted to the page."""

    headline: list[Grid]
    paired: list[Grid]
    cost: list[Grid]
    metrics: list[Grid]
    tuning: list[Grid]

    def all(self) -> list[Grid]:
        return [*self.headline, *self.tuning, *self.paired, *self.cost, *self.metrics]


def task_tables(report: Report, info: TaskInfo) -> TaskTables:
    return TaskTables(
        headline=fitted(tuned_headline(report, info, headline_grid(report, info))),
        paired=[part for grid in paired_grids(report, info) for part in fitted(grid)],
        cost=fitted(cost_grid(report, info)),
        metrics=[part for grid in metric_grids(report, info) for part in fitted(grid)],
        tuning=[part for grid in tuning_grids(report, info) for part in fitted(grid)],
    )


def report_grids(report: Report) -> list[Grid]:
    """Every table of the report, task by task, in reading order."""
    return [grid for info in report.tasks for grid in task_tables(report, info).all()]


def grid_width(grid: Grid) -> int:
    """The drawn width: per column its widest cell (bold counted as markdown's ``**``) plus a space each
    side and a border, plus the last border; a markdown row is never wider."""
    return _width(grid, range(len(grid.columns)))


def fitted(grid: Grid, width: int = PAGE_COLUMNS) -> list[Grid]:
    """``grid`` when it fits ``width``, else parts of it by columns (each repeating the first column,
    titled "(part i/n)", the notes under the last); a single column wider than the page stays whole."""
    if grid_width(grid) <= width:
        return [grid]
    parts: list[list[int]] = [[]]
    for index in range(1, len(grid.columns)):
        if parts[-1] and _width(grid, [0, *parts[-1], index]) > width:
            parts.append([])
        parts[-1].append(index)
    if len(parts) == 1:
        return [grid]
    return [
        Grid(
            f"{grid.title} (part {number}/{len(parts)})",
            [grid.columns[i] for i in (0, *part)],
            [[row[i] for i in (0, *part)] for row in grid.rows],
            grid.notes if number == len(parts) else [],
        )
        for number, part in enumerate(parts, start=1)
    ]


def _width(grid: Grid, columns: range | list[int]) -> int:
    widths = [
        max(
            [cell_len(grid.columns[i])]
            + [cell_len(row[i].text) + (4 if row[i].best else 0) for row in grid.rows]
        )
        for i in columns
    ]
    return sum(widths) + 3 * len(widths) + 1
