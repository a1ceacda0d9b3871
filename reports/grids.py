"""Formatted tables of a ``Report``: every renderer (terminal, markdown, HTML, the end-of-run summary)
draws the same ``Grid`` of cells, so a number reads the same in all of them (reports.layout orders them
and splits any wider than a page).

Quality, per task: a headline table (rows = losses and the start; columns = the task's headline metrics,
the win rate and held-out preference accuracy, the seeds and statuses), then every metric with metrics as
rows and losses as columns, in groups (the task's own, preference, lm-eval ``nlp:``). Each cell is the
mean over done seeds ± the half-width of a 95% Student t-interval ("n=1" when a single seed ran), a mean
in bold only when it is significantly better than every other loss's (reports.paired). Paired: per task,
each loss's difference to the baseline loss and to the start, metric by metric, with the verdict. Cost:
mean over done seeds of time/step, total time, tokens/s, peak memory and forward passes, each also as a
ratio to dpo. Summary: the end-of-run table, a task's headline metrics beside its win rate and the main
costs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from synpo_bench.reports.numbers import (
    format_cost,
    format_difference,
    format_mean,
    format_number,
    format_ratio,
)
from synpo_bench.reports.paired import START
from synpo_bench.reports.report import (
    LM_EVAL_PREFIX,
    PREFERENCE_METRICS,
    WIN_RATE,
    Report,
    TaskInfo,
)
from synpo_bench.reports.results import CELL_STATUSES, COST_FIELDS, REFERENCE_LOSS

START_ROW = "(start)"
"""The quality table's row for the model before preference training."""

COST_LABELS = {
    "time_per_step_s": "time/step",
    "wall_clock_s": "total time",
    "tokens_per_s": "tokens/s",
    "peak_memory_mb": "peak memory",
    "peak_reserved_mb": "peak reserved",
    "forward_passes": "forward passes",
}
SUMMARY_COSTS = ("time_per_step_s", "tokens_per_s", "peak_memory_mb")
"""The cost fields the end-of-run summary shows."""
HEADLINE_PREFERENCE = (WIN_RATE, "heldout_pref_accuracy")
"""Beside a task's headline metrics in its headline table: the win rate over the start and the held-out
preference accuracy."""


@dataclass(frozen=True)
class Cell:
    text: str
    best: bool = False


@dataclass(frozen=True)
class Grid:
    """A formatted table: every renderer maps the same cells to its own syntax."""

    title: str
    columns: list[str]
    rows: list[list[Cell]]
    notes: list[str]


BOLD_RULE = (
    "bold: significantly better than every other loss (paired bootstrap on the same items where the metric "
    "has per-item values, else non-overlapping t-intervals), never merely the highest mean"
)


def paired_grids(report: Report, info: TaskInfo) -> list[Grid]:
    """Rows = the task's paired metrics; columns = losses; cells = difference ± half-width and verdict:
    one grid against the baseline loss, one against the start (where there is anything to show)."""
    paired = report.paired
    metrics = paired.metrics.get(info.name, [])
    notes = list(paired.notes.get(info.name, []))
    found = []
    for against in (paired.baseline_loss, START):
        losses = [loss for loss in info.losses if loss != against]
        rows = [
            [Cell(metric), *(_difference_cell(report, info.name, loss, against, metric) for loss in losses)]
            for metric in metrics
        ]
        rows = [row for row in rows if any(cell.text != "-" for cell in row[1:])]  # e.g. win_rate vs start
        if rows:
            label = "start" if against == START else against
            found.append(
                Grid(
                    f"{info.name}: vs {label} (paired)",
                    ["metric", *(f"{loss} − {label}" for loss in losses)],
                    rows,
                    [],
                )
            )
    if not found:
        return [Grid(f"{info.name}: paired comparisons", ["note"], [], notes)] if notes else []
    found[-1] = Grid(found[-1].title, found[-1].columns, found[-1].rows, [*_paired_legend(report), *notes])
    return found


def _paired_legend(report: Report) -> list[str]:
    return [
        f"{report.paired.method}",
        "cell: difference ± half the interval's width, then the verdict: better / worse (the interval "
        "excludes 0) or n.s. = no detectable difference (it contains 0); BLEU and METEOR are corpus-level, "
        "not paired",
    ]


def _difference_cell(report: Report, task: str, loss: str, against: str, metric: str) -> Cell:
    entry = report.paired.entry(task, loss, against, metric)
    if entry is None:
        return Cell("-")
    low = None if pd.isna(entry["low"]) else float(entry["low"])
    high = None if pd.isna(entry["high"]) else float(entry["high"])
    text = format_difference(
        float(entry["difference"]), low, high, str(entry["verdict"]), bool(entry["paired"])
    )
    return Cell(text)


def headline_grid(report: Report, info: TaskInfo) -> Grid:
    """Rows = losses and the start; columns = the headline metrics, win rate, held-out preference
    accuracy (those measured), seeds, status; with the notes every quality number of the task needs."""
    metrics = _headline_columns(info)
    rows = [
        [
            Cell(loss),
            *(_quality_cell(report, info.name, loss, metric) for metric in metrics),
            Cell(str(status_count(report, info.name, loss, "done"))),
            Cell(status_text(report, info.name, loss)),
        ]
        for loss in info.losses
    ]
    if info.start:
        rows.append([*_start_cells(info, metrics), Cell("-"), Cell("before training")])
    notes = [f"data: {info.data_label}"]
    if info.judge:
        notes.append(f"judge: {info.judge}")
    if info.caption_metrics:
        notes.append(f"caption metrics: {info.caption_metrics}")
    notes.append("reference model: " + ", ".join(f"{loss} {mode}" for loss, mode in info.ref_modes.items()))
    notes.append(f"{report.interval_method}; higher is better; {BOLD_RULE}")
    if info.start:
        notes.append(f"{START_ROW}: the warm-started model every loss starts from, evaluated the same way")
    title = f"{info.name}: headline" + (" [synthetic data]" if info.synthetic else "")
    return Grid(title, ["loss", *metrics, "seeds", "status"], rows, notes)


def _headline_columns(info: TaskInfo) -> list[str]:
    return [*info.headline, *(m for m in HEADLINE_PREFERENCE if m in info.metrics)]


def metric_groups(metrics: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The metrics in groups, each (label, metrics in their order), empty groups left out."""
    groups: dict[str, list[str]] = {"task metrics": [], "preference metrics": [], "lm-eval metrics": []}
    for metric in metrics:
        if metric.startswith(LM_EVAL_PREFIX):
            groups["lm-eval metrics"].append(metric)
        elif metric in PREFERENCE_METRICS:
            groups["preference metrics"].append(metric)
        else:
            groups["task metrics"].append(metric)
    return [(label, members) for label, members in groups.items() if members]


def metric_grids(report: Report, info: TaskInfo) -> list[Grid]:
    """Every metric of the task, metrics as rows and losses (then the start) as columns, one grid per
    group; none when the headline table already shows every metric."""
    shown = set(_headline_columns(info))
    if all(metric in shown for metric in info.metrics):
        return []
    found = []
    for label, metrics in metric_groups(info.metrics):
        rows = [
            [
                Cell(metric),
                *(_quality_cell(report, info.name, loss, metric) for loss in info.losses),
                *([_start_cells(info, [metric])[1]] if info.start else []),
            ]
            for metric in metrics
        ]
        columns = ["metric", *info.losses, *([START_ROW] if info.start else [])]
        found.append(Grid(f"{info.name}: {label}", columns, rows, []))
    note = "every metric, one row each; cells, bold and the (start) column as in the headline table"
    found[-1] = Grid(found[-1].title, found[-1].columns, found[-1].rows, [note])
    return found


def cost_grid(report: Report, info: TaskInfo) -> Grid:
    has_reference = REFERENCE_LOSS in info.losses
    fields = _task_cost_fields(report, info.name)
    rows = [
        [
            Cell(loss),
            *(_cost_cell(report, info.name, loss, name, has_reference) for name in fields),
            Cell(str(status_count(report, info.name, loss, "done"))),
        ]
        for loss in info.losses
    ]
    columns = ["loss", *(_cost_label(name, info, fields) for name in fields), "seeds"]
    notes = ["mean over done seeds; best per column in bold"]
    if has_reference:
        notes.append(f"(x) = relative to {REFERENCE_LOSS}, the same task's {REFERENCE_LOSS} mean = 1.00x")
    else:
        notes.append(f"no {REFERENCE_LOSS} cell in this task: no relative costs")
    return Grid(f"{info.name}: cost", columns, rows, notes)


def _task_cost_fields(report: Report, task: str) -> list[str]:
    """The cost fields of the task's summary rows: ``COST_FIELDS``, and peak reserved memory if recorded."""
    return list(dict.fromkeys(report.cost.loc[report.cost["task"] == task, "field"])) or list(COST_FIELDS)


def _cost_label(name: str, info: TaskInfo, fields: Sequence[str]) -> str:
    """A cost column's heading; beside peak reserved memory (CUDA), the peak memory reads "peak allocated"."""
    beside_reserved = name == "peak_memory_mb" and "peak_reserved_mb" in fields
    label = "peak allocated" if beside_reserved else COST_LABELS[name]
    memory = name in ("peak_memory_mb", "peak_reserved_mb")
    return f"{label} ({info.memory_kind})" if memory and info.memory_kind else label


def summary_grid(report: Report, info: TaskInfo, headline: Sequence[str], cached: dict[str, int]) -> Grid:
    """The end-of-run table: per loss the ``headline`` metrics, the win rate over the starting model and
    the main costs (no ratios), with the cells' statuses; ``cached`` counts each loss's cells this
    invocation read from an earlier one instead of training."""
    metrics = [*headline, WIN_RATE]
    rows = []
    for loss in info.losses:
        status = status_text(report, info.name, loss)
        if cached.get(loss):
            status += f" ({cached[loss]} cached)"
        rows.append(
            [
                Cell(loss),
                *(_quality_cell(report, info.name, loss, metric) for metric in metrics),
                *(_cost_cell(report, info.name, loss, name, has_reference=False) for name in SUMMARY_COSTS),
                Cell(status),
            ]
        )
    if info.start:
        no_costs = [Cell("-") for _ in SUMMARY_COSTS]
        rows.append([*_start_cells(info, metrics), *no_costs, Cell("-")])
    title = f"{info.name}: summary (higher quality is better)"
    title += " [synthetic data]" if info.synthetic else ""
    columns = ["loss", *metrics, *(COST_LABELS[name] for name in SUMMARY_COSTS), "cells"]
    notes = ["mean over done seeds ± 95% t-interval; bold: significantly better than every other loss"]
    if info.start:
        notes.append(f"{START_ROW}: the warm-started model every loss starts from")
    return Grid(title, columns, rows, notes)


def status_count(report: Report, task: str, loss: str, status: str) -> int:
    rows = report.status[(report.status["task"] == task) & (report.status["loss"] == loss)]
    return int(rows[status].sum()) if not rows.empty else 0


def status_text(report: Report, task: str, loss: str) -> str:
    """``2 done, 1 failed``: the cells of (task, loss) per status, or ``-`` when there are none."""
    counts = {s: status_count(report, task, loss, s) for s in CELL_STATUSES}
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "-"


def _entry(frame: pd.DataFrame, task: str, loss: str, key: str, value: str) -> pd.Series | None:
    """The summary row of (task, loss) whose ``key`` column is ``value``, or None."""
    rows = frame[(frame["task"] == task) & (frame["loss"] == loss) & (frame[key] == value)]
    return None if rows.empty else rows.iloc[0]


def _quality_cell(report: Report, task: str, loss: str, metric: str) -> Cell:
    entry = _entry(report.quality, task, loss, "metric", metric)
    if entry is None or entry["n"] == 0:
        return Cell("-")
    half = None if entry["n"] < 2 else float(entry["ci_half"])
    return Cell(format_mean(float(entry["mean"]), half, int(entry["n"])), bool(entry["best"]))


def _cost_cell(report: Report, task: str, loss: str, name: str, has_reference: bool) -> Cell:
    entry = _entry(report.cost, task, loss, "field", name)
    if entry is None or entry["n"] == 0 or math.isnan(entry["mean"]):
        return Cell("-")
    text = format_cost(name, float(entry["mean"]))
    if has_reference and not math.isnan(entry["relative_to_dpo"]):
        text += " " + format_ratio(float(entry["relative_to_dpo"]))
    return Cell(text, bool(entry["best"]))


def _start_cells(info: TaskInfo, metrics: Sequence[str]) -> list[Cell]:
    values = [info.start.get(metric) for metric in metrics]
    return [Cell(START_ROW), *(Cell("-" if value is None else format_number(value)) for value in values)]
