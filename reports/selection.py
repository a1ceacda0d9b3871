"""A tuned run's report view: each loss at its setting chosen on the validation part, shown on the test part.

``select_settings`` turns the cells read from a tuned run (several settings per task, loss and seed) into
the shape every report table expects (one cell per task, loss and seed) and records the choices in
``Results.tuning``. Per task (reports.tuning has the split and the rule):

* the selection metric is the task's first headline metric with per-item scores (``item_scores.jsonl``);
  a task whose headline metrics are all corpus-level (VATEX's CIDEr, BLEU-4) is chosen on the first metric
  that has them;
* each setting's validation score is that metric's mean over the validation items, per seed; the chosen
  setting has the highest mean over seeds (``SELECTION_RULE``); test items are never read for it;
* the chosen cells' per-item scores, and the start's, keep their test items only, and every metric with
  per-item values is recomputed on them (the mean over the items that carry it, ``TaskAdapter.item_scores``'
  contract), so paired comparisons pair on test items; metrics without per-item values are kept as
  measured on every item and listed in ``TaskTuning.not_split``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

from synpo_bench.api.registry import UnknownNameError
from synpo_bench.api.tasks import get_task
from synpo_bench.reports.report import LM_EVAL_PREFIX, PREFERENCE_METRICS, WIN_RATE
from synpo_bench.reports.results import QUALITY_PREFIX, SETTING, Results, ordered_losses
from synpo_bench.reports.tuning import (
    Choice,
    SettingScore,
    TaskTuning,
    Tuning,
    parse_label,
    validation_clips,
)

WALL_CLOCK = "cost:wall_clock_s"


@dataclass
class _Chosen:
    """What selecting one task changes in ``Results``."""

    tuning: TaskTuning
    keep: list[int] = field(default_factory=list)
    """Row labels of ``Results.cells`` to keep: the shown settings' cells."""
    items: dict[tuple[str, str, int], pd.DataFrame] = field(default_factory=dict)
    start_items: pd.DataFrame | None = None
    start: dict[str, float] = field(default_factory=dict)
    quality: dict[tuple[int, str], float] = field(default_factory=dict)
    """(row label, quality column) -> its value on the test part."""


def select_settings(results: Results) -> Results:
    """``results`` unchanged for a shared run; else the chosen settings' cells on the test part."""
    cells = results.cells
    if SETTING not in cells or not (cells[SETTING] != "").any():
        return results
    tuned = sorted(set(cells.loc[cells[SETTING] != "", "task"]))
    keep = cells.index[~cells["task"].isin(tuned)].tolist()
    items = {key: frame for key, frame in results.items.items() if key[0] not in tuned}
    start, start_items = dict(results.start), dict(results.start_items)
    warnings, tuning = list(results.warnings), Tuning()
    cells = cells.copy()
    for task in tuned:
        shared = cells[(cells["task"] == task) & (cells[SETTING] == "")]
        if not shared.empty:
            warnings.append(
                f"task '{task}': {len(shared)} cell(s) of shared settings (e.g. {shared['folder'].iloc[0]}) "
                "beside tuned ones are left out: a tuned report shows each loss's chosen setting"
            )
        chosen = _select_task(results, task)
        tuning.tasks[task] = chosen.tuning
        keep += chosen.keep
        items.update(chosen.items)
        if chosen.start_items is not None:
            start_items[task] = chosen.start_items
        start[task] = {**start.get(task, {}), **chosen.start}
        for (row, column), value in chosen.quality.items():
            cells.loc[row, column] = value
    kept = cells.loc[sorted(keep)].reset_index(drop=True)
    names = set(zip(kept["task"], kept["loss"], kept[SETTING], kept["seed"], strict=True))
    steps = results.steps
    keys = zip(steps["task"], steps["loss"], steps[SETTING], steps["seed"], strict=True)
    in_kept = [key in names for key in keys]
    return replace(
        results,
        cells=kept,
        steps=steps[pd.Series(in_kept, index=steps.index, dtype=bool)].reset_index(drop=True),
        warnings=warnings,
        start=start,
        items=items,
        start_items=start_items,
        setting_items={},
        tuning=tuning,
    )


def _select_task(results: Results, task: str) -> _Chosen:
    cells = results.cells[(results.cells["task"] == task) & (results.cells[SETTING] != "")]
    frames = {key: frame for key, frame in results.setting_items.items() if key[0] == task}
    start_frame = results.start_items.get(task)
    every = [*frames.values(), *([start_frame] if start_frame is not None else [])]
    data_seed = _data_seed(cells)
    validation = validation_clips((c for f in every for c in f.index.get_level_values("clip_id")), data_seed)
    metrics = results.quality_metrics(task)
    splittable = [m for m in metrics if any(m in frame.columns for frame in every)]
    metric = selection_metric(task, splittable, metrics)
    sample = start_frame if start_frame is not None else next(iter(frames.values()), None)
    in_validation = _validation_mask(sample, validation) if sample is not None else pd.Series(dtype=bool)
    clips = set(sample.index.get_level_values("clip_id")) if sample is not None else set()
    tuning = TaskTuning(
        task=task,
        metric=metric,
        data_seed=data_seed,
        validation_items=int(in_validation.sum()),
        test_items=int((~in_validation).sum()),
        validation_clips=len(clips & validation),
        test_clips=len(clips - validation),
        not_split=[m for m in metrics if m not in splittable],
    )
    if not validation:
        tuning.notes.append(
            f"task '{task}': fewer than two evaluation clips, so no validation part: the settings were "
            "chosen on the same items they are shown on"
        )
    chosen = _Chosen(tuning)
    for loss in ordered_losses(cells["loss"]):
        rows = cells[cells["loss"] == loss]
        choice = _choose(
            loss, rows, {k[2:]: f for k, f in frames.items() if k[1] == loss}, validation, metric
        )
        tuning.choices.append(choice)
        _note_tie(tuning, choice)
        _show(chosen, task, rows[rows[SETTING] == choice.shown], frames, validation, splittable)
        _note_failures(tuning, rows)
    if start_frame is not None and validation:
        test = start_frame[~_validation_mask(start_frame, validation)]
        chosen.start_items = test
        chosen.start = {m: _mean(test, m) for m in splittable if m in test.columns}
    return chosen


def selection_metric(task: str, splittable: Sequence[str], metrics: Sequence[str]) -> str | None:
    """The task's first headline metric with per-item scores; else its first own metric with them; else
    the win rate; None when no metric has per-item scores."""
    try:
        headline: Sequence[str] = get_task(task).headline
    except UnknownNameError:  # a plug-in task of an earlier invocation, not loaded now
        headline = ()
    own = [m for m in metrics if m not in PREFERENCE_METRICS and not m.startswith(LM_EVAL_PREFIX)]
    candidates = [*(m for m in headline if m in metrics), *own, WIN_RATE]
    return next((m for m in candidates if m in splittable), None)


def _choose(
    loss: str,
    rows: pd.DataFrame,
    frames: dict[tuple[str, int], pd.DataFrame],
    validation: set[str],
    metric: str | None,
) -> Choice:
    """Score every setting of one loss on the validation items and pick the best (``SELECTION_RULE``)."""
    scores = []
    for label, setting_rows in rows.groupby(SETTING, sort=False):
        done = setting_rows[setting_rows["status"] == "done"]
        per_seed = {}
        for seed in done["seed"]:
            frame = frames.get((str(label), int(seed)))
            if frame is not None and metric is not None and metric in frame.columns:
                mask = _validation_mask(frame, validation) if validation else slice(None)
                value = _mean(frame[mask], metric)
                if not math.isnan(value):
                    per_seed[int(seed)] = value
        wall = setting_rows[WALL_CLOCK] if WALL_CLOCK in setting_rows else pd.Series(dtype=float)
        scores.append(
            SettingScore(
                label=str(label),
                values=parse_label(str(label)) or {},
                scores=per_seed,
                cells=len(setting_rows),
                done=len(done),
                wall_clock_s=float(pd.to_numeric(wall, errors="coerce").fillna(0.0).sum()),
            )
        )
    scores.sort(key=lambda score: tuple(score.values.values()))
    scored = [score for score in scores if score.scores]
    if not scored:
        shown = max(scores, key=lambda score: score.done).label
        return Choice(loss, None, scores, shown)
    most = max(len(score.scores) for score in scored)
    best = max((score for score in scored if len(score.scores) == most), key=lambda score: score.mean)
    return Choice(loss, best.label, scores, best.label)


def _show(
    chosen: _Chosen,
    task: str,
    rows: pd.DataFrame,
    frames: dict[tuple[str, str, str, int], pd.DataFrame],
    validation: set[str],
    splittable: Sequence[str],
) -> None:
    """Keep the shown setting's cells, with their items and item metrics on the test part."""
    for row in rows.itertuples():
        chosen.keep.append(int(row.Index))  # type: ignore[arg-type]
        frame = frames.get((task, str(row.loss), str(row.setting), int(row.seed)))
        if frame is None or row.status != "done":
            continue
        test = frame[~_validation_mask(frame, validation)] if validation else frame
        chosen.items[(task, str(row.loss), int(row.seed))] = test
        for metric in splittable:
            if metric in test.columns:
                chosen.quality[(int(row.Index), QUALITY_PREFIX + metric)] = _mean(test, metric)  # type: ignore[arg-type]


def _note_tie(tuning: TaskTuning, choice: Choice) -> None:
    """Say so when the choice was the tie rule's, not the scores' (settings equal on validation)."""
    if choice.chosen is None:
        return
    best = choice.setting(choice.chosen)
    tied = [
        s.label
        for s in choice.settings
        if s.scores and len(s.scores) == len(best.scores) and s.mean == best.mean
    ]
    if len(tied) > 1:
        tuning.notes.append(
            f"{choice.loss}: {len(tied)} settings tie on validation ({', '.join(tied)}); "
            f"{choice.chosen} was taken by the tie rule, not by its score"
        )


def _note_failures(tuning: TaskTuning, rows: pd.DataFrame) -> None:
    for row in rows[rows["status"] != "done"].itertuples():
        reason = getattr(row, "error", None) or row.status
        tuning.notes.append(f"{row.task}/{row.loss}/{row.setting}/seed{row.seed}: {reason}")


def _validation_mask(frame: pd.DataFrame, validation: set[str]) -> pd.Series:
    clips = frame.index.get_level_values("clip_id")
    return pd.Series(clips.isin(sorted(validation)), index=frame.index, dtype=bool)


def _mean(frame: pd.DataFrame, metric: str) -> float:
    values = frame[metric].dropna() if metric in frame.columns else pd.Series(dtype=float)
    return float(values.mean()) if len(values) else math.nan


def _data_seed(cells: pd.DataFrame) -> int:
    """The data seed the cells recorded (their config's ``data_seed``), 0 when none did."""
    seeds = pd.to_numeric(cells.get("data_seed", pd.Series(dtype=float)), errors="coerce").dropna()
    return int(seeds.mode().iloc[0]) if len(seeds) else 0
