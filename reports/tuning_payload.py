"""A tuned run's choices as data: the JSON report's ``tuning`` section and the CSV's ``tuning`` rows.

JSON (``tuning_payload``; null for a run of shared settings)::

    {task: {"metric": "<selection metric>", "rule": "...", "data_seed": 0,
            "split": {"validation_items", "test_items", "validation_clips", "test_clips"},
            "not_split": [metric, ...], "notes": [...],
            "losses": {loss: {"chosen": "<label>" | null, "values": {key: value}, "validation_score",
                              "wall_clock_s_all", "wall_clock_s_chosen", "extra_wall_clock_s",
                              "settings": [{"label", "values", "validation_score", "scores": {seed: v},
                                            "done", "cells", "wall_clock_s"}]}}}}

CSV: one row per (task, loss, setting): section "tuning", metric = the selection metric, mean = the
validation score (over ``n`` seeds), best = chosen, setting = its label, wall_clock_s = its training time.
"""

from __future__ import annotations

import math

from synpo_bench.reports.report import Report
from synpo_bench.reports.tuning import SELECTION_RULE, Choice, SettingScore, TaskTuning

Json = None | bool | int | float | str | list["Json"] | dict[str, "Json"]


def tuning_payload(report: Report) -> Json:
    if report.tuning is None:
        return None
    return {task: _task(tuning) for task, tuning in report.tuning.tasks.items()}


def _task(tuning: TaskTuning) -> Json:
    return {
        "metric": tuning.metric,
        "rule": SELECTION_RULE,
        "data_seed": tuning.data_seed,
        "split": {
            "validation_items": tuning.validation_items,
            "test_items": tuning.test_items,
            "validation_clips": tuning.validation_clips,
            "test_clips": tuning.test_clips,
        },
        "not_split": list(tuning.not_split),
        "notes": list(tuning.notes),
        "losses": {choice.loss: _choice(choice) for choice in tuning.choices},
    }


def _choice(choice: Choice) -> Json:
    chosen = choice.setting(choice.chosen) if choice.chosen else None
    return {
        "chosen": choice.chosen,
        "values": dict(chosen.values) if chosen else None,
        "validation_score": _number(chosen.mean) if chosen else None,
        "wall_clock_s_all": choice.wall_clock_all_s,
        "wall_clock_s_chosen": choice.wall_clock_chosen_s,
        "extra_wall_clock_s": choice.extra_wall_clock_s,
        "settings": [_setting(score) for score in choice.settings],
    }


def _setting(score: SettingScore) -> Json:
    return {
        "label": score.label,
        "values": dict(score.values),
        "validation_score": _number(score.mean),
        "scores": {str(seed): value for seed, value in sorted(score.scores.items())},
        "done": score.done,
        "cells": score.cells,
        "wall_clock_s": score.wall_clock_s,
    }


def tuning_rows(report: Report) -> list[dict[str, object]]:
    if report.tuning is None:
        return []
    return [
        {
            "section": "tuning",
            "task": task,
            "loss": choice.loss,
            "metric": tuning.metric,
            "setting": score.label,
            "mean": _number(score.mean),
            "n": len(score.scores),
            "best": score.label == choice.chosen,
            "status": f"{score.done}/{score.cells} done",
            "wall_clock_s": score.wall_clock_s,
        }
        for task, tuning in report.tuning.tasks.items()
        for choice in tuning.choices
        for score in choice.settings
    ]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value
