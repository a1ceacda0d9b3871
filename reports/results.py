"""One run's results as frames, and the vocabulary of the results layout (statuses, column prefixes).

``Results.cells`` has one row per cell; ``status`` is done, failed, running (a manifest but no
result.json yet: still training, or killed) or corrupt (an unreadable result.json). Quality metrics are
columns ``quality:<metric>``, cost fields ``cost:<field>``. ``Results.steps`` is long form, one row per
(cell, optimizer step, metric) from metrics.jsonl, for curves: columns task, loss, seed, status, step,
metric (e.g. "loss", "margin"), value, setting. ``setting`` (both frames) is a tuned cell's label
(reports.tuning), "" for a shared one; a tuned run's ``Results`` keep only each loss's chosen setting.
``reports.reading.load_results`` builds it from a run folder.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from synpo_bench.api.errors import UserError
from synpo_bench.reports.tuning import Tuning

CELL_STATUSES = ("done", "failed", "running", "corrupt")
QUALITY_PREFIX = "quality:"
COST_PREFIX = "cost:"
REFERENCE_LOSS = "dpo"
"""Costs are also shown relative to this loss when the run has it."""

COST_FIELDS: dict[str, bool] = {
    "time_per_step_s": False,
    "wall_clock_s": False,
    "tokens_per_s": True,
    "peak_memory_mb": False,
    "forward_passes": False,
}
"""The cost fields the report shows, each mapped to whether higher is better."""
OPTIONAL_COST_FIELDS: dict[str, bool] = {"peak_reserved_mb": False}
"""Cost fields shown only when a cell recorded them, after the peak memory (``peak_reserved_mb``: the
CUDA caching allocator's peak, absent from CPU runs), each mapped to whether higher is better."""

JsonObject = dict[str, object]
"""A JSON object as read from a results file; values are checked with isinstance before use."""

IDENTITY_KEYS = ("task", "loss", "seed")
"""The columns that name a cell in both frames (with ``setting``: a tuned cell's label, "" when shared)."""
SETTING = "setting"


class ResultsError(UserError):
    """The results folder cannot be reported on at all (missing, or holding no cell)."""


@dataclass
class Results:
    """Everything read from one run folder."""

    run_dir: Path
    cells: pd.DataFrame
    steps: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    start: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per task, the starting model's quality (from ``<task>/task.json``), before any preference training."""
    items: dict[tuple[str, str, int], pd.DataFrame] = field(default_factory=dict)
    """Per done (task, loss, seed) cell, its per-example scores (``reports.items``), when it wrote them."""
    start_items: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Per task, the starting model's per-example scores (``<task>/item_scores.jsonl``)."""
    setting_items: dict[tuple[str, str, str, int], pd.DataFrame] = field(default_factory=dict)
    """Per done tuned (task, loss, setting label, seed) cell, its per-example scores; emptied by
    ``reports.selection``, which moves the chosen settings' test items to ``items``."""
    tuning: Tuning | None = None
    """A tuned run's choices (``reports.selection``); None for a run of shared settings."""

    @property
    def run_id(self) -> str:
        ids = self.cells["run_id"].dropna().unique() if "run_id" in self.cells else []
        return str(ids[0]) if len(ids) == 1 else self.run_dir.name

    def tasks(self) -> list[str]:
        return sorted(self.cells["task"].unique())

    def losses(self, task: str) -> list[str]:
        return ordered_losses(self.cells.loc[self.cells["task"] == task, "loss"].unique())

    def quality_metrics(self, task: str) -> list[str]:
        """Quality metrics any cell of ``task`` reported, in the order they first appear."""
        rows = self.cells[self.cells["task"] == task]
        columns = [c for c in self.cells.columns if c.startswith(QUALITY_PREFIX) and rows[c].notna().any()]
        return [c.removeprefix(QUALITY_PREFIX) for c in columns]

    def cost_fields(self) -> dict[str, bool]:
        """``COST_FIELDS`` and, after the peak memory, each optional field some cell recorded."""
        recorded = {
            name: higher
            for name, higher in OPTIONAL_COST_FIELDS.items()
            if COST_PREFIX + name in self.cells and self.cells[COST_PREFIX + name].notna().any()
        }
        fields: dict[str, bool] = {}
        for name, higher in COST_FIELDS.items():
            fields[name] = higher
            if name == "peak_memory_mb":
                fields.update(recorded)
        return fields

    def done(self) -> pd.DataFrame:
        return self.cells[self.cells["status"] == "done"]

    def only(self, cells: Collection[tuple[str, str, int]]) -> Results:
        """The same results restricted to the given (task, loss, seed) cells; warnings are kept."""
        wanted = set(cells)

        def keep(frame: pd.DataFrame) -> pd.Series:
            keys = zip(frame["task"], frame["loss"], frame["seed"], strict=True)
            return pd.Series([key in wanted for key in keys], index=frame.index, dtype=bool)

        tasks = {task for task, _, _ in wanted}
        return replace(
            self,
            cells=self.cells[keep(self.cells)].reset_index(drop=True),
            steps=self.steps[keep(self.steps)].reset_index(drop=True),
            start={task: quality for task, quality in self.start.items() if task in tasks},
            items={cell: frame for cell, frame in self.items.items() if cell in wanted},
            start_items={task: frame for task, frame in self.start_items.items() if task in tasks},
        )


def ordered_losses(losses: Iterable[str]) -> list[str]:
    """The reference loss first (costs are relative to it), the others alphabetically."""
    return sorted(set(losses), key=lambda name: (name != REFERENCE_LOSS, name))
