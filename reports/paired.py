"""Paired comparisons: each loss against the baseline loss and against the start, on the same items.

Every loss of a task is evaluated on the same examples, so two models' difference is measured item by item
(``item_scores.jsonl``): a paired bootstrap over items within seeds (and over seeds when there are several;
``statistics.shared_differences``, one resample for every loss of a metric, or pair by pair with
``statistics.bootstrap_difference`` when the losses' seeds differ) gives a 95% interval and a verdict:
better, worse or no detectable difference (the interval contains 0). Cells whose items differ (other clip
ids or dimensions) cannot be paired: a warning names them and their comparisons fall back to unpaired
intervals (each side's items resampled on its own). A "no signal" warning says when no loss differs
detectably from the start on the task's headline metric. A loss's mean is bold only when it is
significantly better than every other loss: by the paired bootstrap where items exist, else by
non-overlapping t-intervals over seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synpo_bench.api.registry import UnknownNameError
from synpo_bench.api.tasks import get_task
from synpo_bench.reports.results import REFERENCE_LOSS, Results
from synpo_bench.reports.statistics import (
    BOOTSTRAP_METHOD,
    Difference,
    bootstrap_difference,
    shared_differences,
)

START = "start"
"""The ``against`` of a comparison with the starting model."""
FIELDS = ("against", "difference", "low", "high", "verdict", "paired", "n_items")
"""What a comparison says, as the CSV report writes it (beside task, loss, metric)."""
COLUMNS = ["task", "loss", "against", "metric", *FIELDS[1:], "n_seeds"]

SeedValues = dict[int, pd.Series]
"""Seed -> one model's values of one metric, indexed by item."""


@dataclass
class Paired:
    """Every comparison of a report, its per-task notes and warnings, and the significantly best means."""

    frame: pd.DataFrame
    baseline_loss: str
    notes: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    best: set[tuple[str, str, str]] = field(default_factory=set)
    """(task, loss, metric) whose mean is significantly better than every other loss's, paired."""
    metrics: dict[str, list[str]] = field(default_factory=dict)
    """Per task, the metrics compared item by item (the others have no per-item value)."""
    method: str = BOOTSTRAP_METHOD

    def entry(self, task: str, loss: str, against: str, metric: str) -> pd.Series | None:
        frame = self.frame
        rows = frame[
            (frame["task"] == task)
            & (frame["loss"] == loss)
            & (frame["against"] == against)
            & (frame["metric"] == metric)
        ]
        return None if rows.empty else rows.iloc[0]


def paired_comparisons(results: Results, baseline_loss: str = REFERENCE_LOSS) -> Paired:
    paired = Paired(pd.DataFrame(columns=COLUMNS), baseline_loss)
    rows: list[dict[str, object]] = []
    for task in results.tasks():
        rows += _task_comparisons(results, task, paired)
    if rows:
        paired.frame = pd.DataFrame(rows, columns=COLUMNS)
    return paired


def _task_comparisons(results: Results, task: str, paired: Paired) -> list[dict[str, object]]:
    losses = results.losses(task)
    cells = {loss: _cells(results, task, loss) for loss in losses}
    start = results.start_items.get(task)
    frames = [frame for seeds in cells.values() for frame in seeds.values()]
    metrics = [m for m in results.quality_metrics(task) if any(m in frame for frame in frames)]
    notes = paired.notes.setdefault(task, [])
    _note_missing(results, task, cells, notes)
    if not metrics:
        return []
    paired.metrics[task] = metrics
    mismatch = _mismatched_cells(task, cells, start)
    if mismatch:
        notes.append(mismatch)
        paired.warnings.append(mismatch)
    rows = []
    for metric in metrics:
        values = {loss: {s: _values(f, metric) for s, f in seeds.items()} for loss, seeds in cells.items()}
        start_values = _values(start, metric) if start is not None and metric in start else None
        pairwise, against_start = _comparisons(values, start_values)
        paired.best |= {(task, loss, metric) for loss in _significantly_best(losses, pairwise)}
        for loss in losses:
            if loss != paired.baseline_loss and (loss, paired.baseline_loss) in pairwise:
                rows.append(
                    _row(task, loss, paired.baseline_loss, metric, pairwise[(loss, paired.baseline_loss)])
                )
            if loss in against_start:
                rows.append(_row(task, loss, START, metric, against_start[loss]))
    if paired.baseline_loss not in losses:
        notes.append(f"no {paired.baseline_loss} cell in task '{task}': no comparison with it")
    _no_signal(task, metrics, rows, paired)
    return rows


def _cells(results: Results, task: str, loss: str) -> dict[int, pd.DataFrame]:
    found = sorted(results.items.items(), key=lambda entry: entry[0])
    return {cell[2]: frame for cell, frame in found if cell[:2] == (task, loss)}


def _values(frame: pd.DataFrame, metric: str) -> pd.Series:
    return frame[metric].dropna() if metric in frame else pd.Series(dtype=float)


def _comparisons(
    values: Mapping[str, SeedValues], start: pd.Series | None
) -> tuple[dict[tuple[str, str], Difference], dict[str, Difference]]:
    """Every ordered pair of losses with items (a - b), and each loss against the start: from one shared
    resample when every loss has the same seeds and every cell (and the start) the same items, else pair
    by pair (unpaired where items differ)."""
    aligned = _aligned(values, start)
    if aligned is None:
        against_start = {
            loss: found
            for loss, seeds in values.items()
            if start is not None and seeds and (found := _compare(seeds, start)) is not None
        }
        return _pairwise(values), against_start
    names = [name for name in aligned if name != START]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    found = shared_differences(aligned, pairs + [(loss, START) for loss in names if START in aligned])
    pairwise: dict[tuple[str, str], Difference] = {}
    for a, b in pairs:
        pairwise[(a, b)], pairwise[(b, a)] = found[(a, b)], found[(a, b)].mirrored()
    return pairwise, {loss: found[(loss, START)] for loss in names if (loss, START) in found}


def _aligned(values: Mapping[str, SeedValues], start: pd.Series | None) -> dict[str, list[np.ndarray]] | None:
    """Each loss's item values per seed (and the start's, under ``START``, repeated for every seed) in one
    item order; None unless every loss with items has the same seeds and every cell the same items."""
    with_items = {loss: {seed: v for seed, v in seeds.items() if len(v)} for loss, seeds in values.items()}
    present = {loss: seeds for loss, seeds in with_items.items() if seeds}
    seed_sets = {tuple(sorted(seeds)) for seeds in present.values()}
    if len(seed_sets) != 1:
        return None
    seeds = seed_sets.pop()
    start = start if start is not None and len(start) else None
    every = [cell[seed] for cell in present.values() for seed in seeds]
    every += [start] if start is not None else []
    items = every[0].index
    if not items.is_unique or not all(s.index.sort_values().equals(items.sort_values()) for s in every):
        return None
    aligned = {
        loss: [cell[seed].reindex(items).to_numpy(float) for seed in seeds] for loss, cell in present.items()
    }
    if start is not None:
        aligned[START] = [start.reindex(items).to_numpy(float)] * len(seeds)
    return aligned


def _pairwise(values: Mapping[str, SeedValues]) -> dict[tuple[str, str], Difference]:
    """Every ordered pair of losses with items: a - b (computed once per unordered pair, then mirrored)."""
    found: dict[tuple[str, str], Difference] = {}
    names = [loss for loss, seeds in values.items() if seeds]
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            difference = _compare(values[a], values[b])
            if difference is not None:
                found[(a, b)], found[(b, a)] = difference, difference.mirrored()
    return found


def _compare(a: SeedValues, b: SeedValues | pd.Series) -> Difference | None:
    """a - b over the seeds both have (the start, a ``Series``, stands beside every seed of a)."""
    seeds = sorted(a if isinstance(b, pd.Series) else set(a) & set(b))
    sides = [(a[s], b if isinstance(b, pd.Series) else b[s]) for s in seeds]
    sides = [(x, y) for x, y in sides if len(x) and len(y)]
    if not sides:
        return None
    same_items = all(x.index.sort_values().equals(y.index.sort_values()) for x, y in sides)
    if same_items:
        sides = [(x, y.reindex(x.index)) for x, y in sides]
    return bootstrap_difference(
        [x.to_numpy(float) for x, _ in sides], [y.to_numpy(float) for _, y in sides], paired=same_items
    )


def _row(task: str, loss: str, against: str, metric: str, found: Difference) -> dict[str, object]:
    return {
        "task": task,
        "loss": loss,
        "against": against,
        "metric": metric,
        "difference": found.difference,
        "low": found.low,
        "high": found.high,
        "verdict": found.verdict,
        "paired": found.paired,
        "n_items": found.n_items,
        "n_seeds": found.n_seeds,
    }


def _significantly_best(losses: Sequence[str], pairwise: Mapping[tuple[str, str], Difference]) -> list[str]:
    """The loss better than every other loss by its paired interval (none with fewer than two losses)."""
    if len(losses) < 2:
        return []
    return [
        loss
        for loss in losses
        if all(
            (o := pairwise.get((loss, other))) is not None and o.verdict == "better"
            for other in losses
            if other != loss
        )
    ]


def _mismatched_cells(
    task: str, cells: Mapping[str, Mapping[int, pd.DataFrame]], start: pd.DataFrame | None
) -> str | None:
    """A line naming the cells whose evaluation items differ from the start's (or the first cell's)."""
    named = [
        (f"{task}/{loss}/seed{seed}", frame) for loss, seeds in cells.items() for seed, frame in seeds.items()
    ]
    if start is not None:
        named.insert(0, (f"{task}/(start)", start))
    if len(named) < 2:
        return None
    reference_name, reference = named[0]
    items = set(reference.index)
    odd = [name for name, frame in named[1:] if set(frame.index) != items]
    if not odd:
        return None
    return (
        f"task '{task}': evaluation items (clip ids / dimensions) differ between cells, so they cannot be "
        f"paired: {', '.join(odd)} differ from {reference_name}; their comparisons use unpaired intervals"
    )


def _note_missing(
    results: Results, task: str, cells: Mapping[str, Mapping[int, pd.DataFrame]], notes: list[str]
) -> None:
    done = results.done()
    done = done[done["task"] == task]
    missing = [
        f"{task}/{row.loss}/seed{row.seed}"
        for row in done.itertuples()
        if int(row.seed) not in cells.get(str(row.loss), {})
    ]
    if missing:
        notes.append(
            f"no per-example scores (item_scores.jsonl) for {', '.join(missing)}: "
            "left out of the paired comparisons"
        )


def headline_metric(task: str, metrics: Sequence[str]) -> str | None:
    """The task's first headline metric among ``metrics``, else the first of them."""
    try:
        wanted: Sequence[str] = get_task(task).headline
    except UnknownNameError:  # a plug-in task of an earlier invocation, not loaded now
        wanted = ()
    return next((m for m in wanted if m in metrics), metrics[0] if metrics else None)


def _no_signal(
    task: str, metrics: Sequence[str], rows: Sequence[Mapping[str, object]], paired: Paired
) -> None:
    headline = headline_metric(task, metrics)
    verdicts = [r["verdict"] for r in rows if r["against"] == START and r["metric"] == headline]
    if verdicts and not any(v in ("better", "worse") for v in verdicts):
        message = (
            f"no signal on task '{task}': no loss differs detectably from the start on {headline} "
            "(every paired 95% interval contains 0); the losses cannot be told apart from no training here"
        )
        paired.notes[task].append(message)
        paired.warnings.append(message)


def significant_best(quality: pd.DataFrame, paired: Paired) -> pd.Series:
    """Bold flags: paired significance where the metric has items, else non-overlapping t-intervals."""
    flags = pd.Series(False, index=quality.index)
    for (task, metric), rows in quality.groupby(["task", "metric"], sort=False):
        rows = rows[rows["n"] > 0]
        if metric in paired.metrics.get(str(task), []):
            for index, loss in zip(rows.index, rows["loss"], strict=True):
                flags[index] = (task, loss, metric) in paired.best
            continue
        if len(rows) < 2 or rows["ci_low"].isna().any():
            continue
        for index in rows.index:
            others = rows.drop(index)
            flags[index] = bool(np.all(rows.at[index, "ci_low"] > others["ci_high"]))
    return flags
