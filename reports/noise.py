"""A gate that tests, not compares: each metric's noise, measured, and a fall judged against it.

Re-running the same code moves the metrics: another training seed reorders the batches, another CPU's
kernels round differently, and 20 steps of training plus greedy decoding amplify both. A fixed 2% band is
far inside that noise on some metrics (held-out preference accuracy on a few dozen pairs) and far outside
it on others. So a noise baseline (format 2, ``noise_baseline``) is made from several runs of the gate's
configuration (seeds, thread counts) and stores, beside each (task, loss, metric)'s mean over all those
cells, the metric's noise: the pooled within-loss standard deviation over cells,

    sd(task, metric) = sqrt( sum_loss sum_cell (x - mean_loss)^2 / sum_loss (n_loss - 1) ),

pooled across losses because each loss alone has only a handful of cells. ``judge`` then calls a metric
regressed when it fell by more than ``band`` (3 by default) such standard deviations, and never by less
than ``MIN_RELATIVE`` of its baseline value (a metric with no spread at all still gets a band). Only the
few metrics that matter fail the gate: each task's headline metrics (``TaskAdapter.headline``), the
held-out preference margin (``MARGIN``: what preference training teaches, continuous, so a loss trained
the wrong way round or too little shows in it) and the cost structure against dpo (forward passes per
loss over dpo's, exact). Speed against dpo is judged with a wide band (at least half its value) but only
reported: on a shared CI machine wall-clock depends on what else runs (seen here: simpo at 0.49x dpo's
speed while other jobs shared the cores, 1.3x alone).
Every other metric outside its band is reported, not gated.

The standard deviation is a sample statistic, computed here because it is one line of numpy and the
pooling across losses is the part no library does for us.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from synpo_bench.api.registry import UnknownNameError
from synpo_bench.api.tasks import get_task
from synpo_bench.reports.results import COST_PREFIX, QUALITY_PREFIX, REFERENCE_LOSS, JsonObject, Results

NOISE_FORMAT_VERSION = 2
DEFAULT_BAND = 3.0
MIN_RELATIVE = 0.01
"""The smallest band: 1% of the baseline value, for a metric that did not move at all between runs."""
SPEED_MIN_RELATIVE = 0.5
"""Speed against dpo is gated with at least half its value as band: only a gross slowdown fails."""
SPEED = "cost:speed_vs_dpo"
"""dpo's time per step over the loss's: higher is better, like every quality metric."""
MARGIN = "heldout_pref_margin"
"""Chosen minus rejected mean token log-probability on held-out pairs (``tasks/metrics/preference.py``)."""
PASSES = "cost:forward_passes_vs_dpo"
"""dpo's forward passes over the loss's: exact, so a loss that suddenly needs a reference fails."""


@dataclass(frozen=True)
class Outlier:
    """A metric that fell beyond its band."""

    task: str
    loss: str
    metric: str
    baseline: float
    current: float
    allowed: float

    def describe(self) -> str:
        drop = self.baseline - self.current
        times = f"{drop / self.allowed:.1f}x the band" if self.allowed > 0 else "any fall regresses"
        return (
            f"{self.task}/{self.loss}/{self.metric}: baseline {self.baseline:.4g} -> current "
            f"{self.current:.4g} (fell {drop:.4g}; band {self.allowed:.4g}: {times})"
        )


@dataclass
class NoiseVerdict:
    gated: list[Outlier] = field(default_factory=list)
    reported: list[Outlier] = field(default_factory=list)
    compared: int = 0
    gated_compared: int = 0


def _cell_frame(results: Sequence[Results]) -> pd.DataFrame:
    frames = []
    for number, result in enumerate(results):
        done = result.done().copy()
        done["run"] = number
        frames.append(done)
    return pd.concat(frames, ignore_index=True)


def _with_cost_ratios(cells: pd.DataFrame) -> pd.DataFrame:
    """Each cell's speed and forward passes relative to dpo's cell of the same run, task and seed."""
    cells = cells.copy()
    for column, name in ((f"{COST_PREFIX}time_per_step_s", SPEED), (f"{COST_PREFIX}forward_passes", PASSES)):
        if column not in cells:
            continue
        reference = cells[cells["loss"] == REFERENCE_LOSS].set_index(["run", "task", "seed"])[column]
        keys = pd.MultiIndex.from_frame(cells[["run", "task", "seed"]])
        cells[QUALITY_PREFIX + name] = reference.reindex(keys).to_numpy() / cells[column].to_numpy()
    return cells


def pooled_sd(frame: pd.DataFrame, column: str) -> float:
    """The within-loss standard deviation of ``column``, pooled over the losses (see the module doc)."""
    squares, freedom = 0.0, 0
    for _, group in frame.groupby("loss"):
        values = group[column].dropna().to_numpy(dtype=float)
        if len(values) > 1:
            squares += float(((values - values.mean()) ** 2).sum())
            freedom += len(values) - 1
    return math.sqrt(squares / freedom) if freedom else 0.0


def headline(task: str) -> list[str]:
    try:
        return list(get_task(task).headline)
    except UnknownNameError:
        return []


def _gated(task: str, measured: dict[str, float]) -> list[str]:
    return [*headline(task), *([MARGIN] if MARGIN in measured else []), PASSES]


def noise_baseline(results: Sequence[Results], band: float = DEFAULT_BAND) -> JsonObject:
    """The format-2 baseline of several runs of one configuration (see the module docstring)."""
    cells = _with_cost_ratios(_cell_frame(results))
    metrics = [c for c in cells.columns if c.startswith(QUALITY_PREFIX)]
    tasks: dict[str, dict[str, dict[str, float]]] = {}
    noise: dict[str, dict[str, float]] = {}
    counts: dict[str, dict[str, int]] = {}
    for task, rows in cells.groupby("task"):
        present = [c for c in metrics if rows[c].notna().any()]
        noise[str(task)] = {c.removeprefix(QUALITY_PREFIX): pooled_sd(rows, c) for c in present}
        for loss, group in rows.groupby("loss"):
            means = {c.removeprefix(QUALITY_PREFIX): float(group[c].mean()) for c in present}
            tasks.setdefault(str(task), {})[str(loss)] = {k: v for k, v in means.items() if not math.isnan(v)}
            counts.setdefault(str(task), {})[str(loss)] = len(group)
    return {
        "format": "synpo-bench-noise-baseline",
        "format_version": NOISE_FORMAT_VERSION,
        "tasks": tasks,
        "noise": noise,
        "cells": counts,
        "status": _unfinished(results),
        "band": band,
        "gated": {task: _gated(task, noise[task]) for task in tasks},
        "inputs": {task: _inputs(result.run_dir, task) for result in results[:1] for task in tasks},
        "made_from": [str(result.run_dir) for result in results],
    }


def _unfinished(results: Sequence[Results]) -> dict[str, dict[str, dict[str, int]]]:
    """Per (task, loss), the most failed, corrupt and unfinished cells any of the runs had: as many in a
    checked run are its own state, not a crash the gate must report (``baseline.missing_cells``)."""
    status: dict[str, dict[str, dict[str, int]]] = {}
    for result in results:
        counts = result.cells.groupby(["task", "loss", "status"]).size()
        for (task, loss, kind), n in counts.items():
            if kind != "done":
                entry = status.setdefault(str(task), {}).setdefault(str(loss), {})
                entry[str(kind)] = max(entry.get(str(kind), 0), int(n))
    return status


def _inputs(run_dir: Path, task: str) -> JsonObject:
    """What the gate's cells started from: the warm start's key and the pairs' and eval data's hash."""
    try:
        info = json.loads((run_dir / task / "task.json").read_text())
    except (OSError, ValueError):
        return {}
    warm = info.get("warm_start") if isinstance(info.get("warm_start"), dict) else {}
    return {"warm_start": warm.get("key"), "data_hash": info.get("data_hash")}


def input_mismatches(payload: JsonObject, results: Results) -> list[str]:
    """Tasks whose cells started elsewhere than the baseline's: the band does not apply to them."""
    expected = payload.get("inputs")
    if not isinstance(expected, dict):
        return []
    problems = []
    for task in results.tasks():
        want = expected.get(task)
        if isinstance(want, dict) and want and _inputs(results.run_dir, task) != want:
            problems.append(
                f"task '{task}': the run started from another warm start or pair set than the baseline "
                f"({_inputs(results.run_dir, task)} vs {want}); the band holds for the same start only: "
                "regenerate the baseline and its cache with `make ci-baseline`"
            )
    return problems


def judge(current: Results, payload: JsonObject, band: float | None = None) -> NoiseVerdict:
    """Every (task, loss, metric) of the baseline against the current run's means, within its band."""
    band = float(payload.get("band", DEFAULT_BAND)) if band is None else band
    cells = _with_cost_ratios(_cell_frame([current]))
    verdict = NoiseVerdict()
    noise = payload.get("noise") if isinstance(payload.get("noise"), dict) else {}
    gated = payload.get("gated") if isinstance(payload.get("gated"), dict) else {}
    tasks = payload.get("tasks") if isinstance(payload.get("tasks"), dict) else {}
    for task, losses in tasks.items():
        for loss, metrics in losses.items():
            mine = cells[(cells["task"] == task) & (cells["loss"] == loss)]
            for metric, expected in metrics.items():
                column = QUALITY_PREFIX + metric
                if mine.empty or column not in mine or mine[column].isna().all():
                    continue
                value = float(np.nanmean(mine[column].to_numpy(dtype=float)))
                allowed = _allowed(metric, float(expected), noise.get(task, {}).get(metric, 0.0), band)
                is_gated = metric in gated.get(task, [])
                verdict.compared += 1
                verdict.gated_compared += int(is_gated)
                if float(expected) - value > allowed:
                    outlier = Outlier(task, loss, metric, float(expected), value, allowed)
                    (verdict.gated if is_gated else verdict.reported).append(outlier)
    return verdict


def _allowed(metric: str, expected: float, sd: float, band: float) -> float:
    if metric == PASSES:
        return 1e-9  # a count: any change is real
    floor = SPEED_MIN_RELATIVE if metric == SPEED else MIN_RELATIVE
    return max(band * sd, floor * abs(expected))
