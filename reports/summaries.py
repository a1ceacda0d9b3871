"""Summaries of ``Results`` over seeds: quality with t-intervals, cost with ratios to dpo, statuses.

Summaries over seeds use done cells only: a failed or unfinished cell has no comparable final numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from synpo_bench.reports.results import (
    CELL_STATUSES,
    COST_PREFIX,
    QUALITY_PREFIX,
    REFERENCE_LOSS,
    Results,
)
from synpo_bench.reports.statistics import t_interval

Means = dict[str, dict[str, dict[str, float]]]
"""``{task: {loss: {metric: mean}}}``."""


def quality_summary(results: Results) -> pd.DataFrame:
    """One row per (task, loss, metric): n, mean, std, ci_half, ci_low, ci_high, best (highest mean here;
    ``build_report`` replaces it by significance, reports.paired)."""
    rows = []
    done = results.done()
    for task in results.tasks():
        for loss in results.losses(task):
            cells = done[(done["task"] == task) & (done["loss"] == loss)]
            for metric in results.quality_metrics(task):
                column = QUALITY_PREFIX + metric
                values = cells[column].tolist() if column in cells else []
                interval = t_interval(values)
                rows.append(
                    {
                        "task": task,
                        "loss": loss,
                        "metric": metric,
                        "n": interval.n,
                        "mean": interval.mean,
                        "std": interval.std,
                        "ci_half": interval.half_width,
                        "ci_low": interval.low,
                        "ci_high": interval.high,
                    }
                )
    frame = pd.DataFrame(
        rows, columns=["task", "loss", "metric", "n", "mean", "std", "ci_half", "ci_low", "ci_high"]
    )
    frame["best"] = _best_flags(frame, ["task", "metric"], higher_is_better=lambda _: True)
    return frame


def cost_summary(results: Results) -> pd.DataFrame:
    """One row per (task, loss, cost field): n, mean over done seeds, relative_to_dpo, best. The fields are
    ``Results.cost_fields``: an optional one (peak reserved memory) only when a cell recorded it."""
    rows = []
    done = results.done()
    fields = results.cost_fields()
    for task in results.tasks():
        task_cells = done[done["task"] == task]
        for loss in results.losses(task):
            cells = task_cells[task_cells["loss"] == loss]
            for name in fields:
                values = cells[COST_PREFIX + name].dropna() if COST_PREFIX + name in cells else pd.Series()
                rows.append(
                    {
                        "task": task,
                        "loss": loss,
                        "field": name,
                        "n": len(values),
                        "mean": float(values.mean()) if len(values) else math.nan,
                    }
                )
    frame = pd.DataFrame(rows, columns=["task", "loss", "field", "n", "mean"])
    reference = frame[frame["loss"] == REFERENCE_LOSS].set_index(["task", "field"])["mean"].to_dict()
    frame["relative_to_dpo"] = [
        mean / reference[(task, name)] if reference.get((task, name)) else math.nan
        for task, name, mean in zip(frame["task"], frame["field"], frame["mean"], strict=True)
    ]
    frame["best"] = _best_flags(frame, ["task", "field"], higher_is_better=fields.__getitem__)
    return frame


def _best_flags(frame: pd.DataFrame, group: list[str], higher_is_better: Callable[[str], bool]) -> pd.Series:
    """True on the row(s) with the best mean of each group (ties all marked)."""
    flags = pd.Series(False, index=frame.index)
    for key, rows in frame.groupby(group, sort=False):
        means = rows["mean"].dropna()
        if means.empty:
            continue
        target = means.max() if higher_is_better(key[-1]) else means.min()
        flags[means.index[np.isclose(means, target, rtol=1e-12, atol=0)]] = True
    return flags


def status_summary(results: Results) -> pd.DataFrame:
    """Cells per status for each (task, loss)."""
    counts = results.cells.groupby(["task", "loss"])["status"].value_counts().unstack(fill_value=0)
    counts = counts.reindex(columns=list(CELL_STATUSES), fill_value=0).reset_index()
    counts.columns.name = None
    return counts


def problem_cells(results: Results) -> list[str]:
    """One line per cell that is not done, saying why."""
    lines = []
    for row in results.cells[results.cells["status"] != "done"].itertuples():
        setting = getattr(row, "setting", "")  # a tuned cell's label (reports.tuning)
        where = "/".join(
            [str(row.task), str(row.loss), *([str(setting)] if setting else []), f"seed{row.seed}"]
        )
        if row.status == "failed":
            lines.append(f"{where} failed: {getattr(row, 'error', None) or 'no reason recorded'}")
        elif row.status == "running":
            lines.append(f"{where} running (manifest but no result.json: still training, or killed)")
        else:
            lines.append(f"{where} corrupt result.json (see warnings)")
    return lines


def quality_means(results: Results) -> Means:
    """``{task: {loss: {metric: mean over done seeds}}}``: the baseline file's ``tasks`` section."""
    means: Means = {}
    for row in quality_summary(results).itertuples():
        if row.n > 0:
            means.setdefault(row.task, {}).setdefault(row.loss, {})[row.metric] = float(row.mean)
    return means
