"""A tuned task's tables: each loss's chosen setting with its cost, and every setting's validation score.

Drawn after the task's headline table (reports.layout), whose title and notes then say that its numbers
are the chosen settings' on the test part.
"""

from __future__ import annotations

import math

from synpo_bench.reports.grids import Cell, Grid
from synpo_bench.reports.numbers import format_cost, format_number
from synpo_bench.reports.report import Report, TaskInfo
from synpo_bench.reports.tuning import SELECTION_RULE, Choice, TaskTuning, describe_setting

NO_CHOICE = "none (no validation score)"


def task_tuning(report: Report, task: str) -> TaskTuning | None:
    return None if report.tuning is None else report.tuning.tasks.get(task)


def tuned_headline(report: Report, info: TaskInfo, grid: Grid) -> Grid:
    """The headline table of a tuned task: retitled, with a note on what its numbers are."""
    tuning = task_tuning(report, info.name)
    if tuning is None:
        return grid
    note = (
        f"tuned: each loss at its chosen setting ({info.name}: tuned settings); task metrics and "
        f"(start) on the test part ({split_text(tuning)})"
    )
    return Grid(f"{grid.title} [tuned, test part]", grid.columns, grid.rows, [note, *grid.notes])


def tuning_grids(report: Report, info: TaskInfo) -> list[Grid]:
    """The chosen settings, then every setting; none for a task of shared settings."""
    tuning = task_tuning(report, info.name)
    if tuning is None:
        return []
    return [_choices_grid(tuning), _settings_grid(tuning)]


def split_text(tuning: TaskTuning) -> str:
    return (
        f"{tuning.test_items} items of {tuning.test_clips} clips; validation: {tuning.validation_items} "
        f"items of {tuning.validation_clips} clips, split by clip id seeded by data seed {tuning.data_seed}"
    )


def _choices_grid(tuning: TaskTuning) -> Grid:
    metric = tuning.metric or "(none)"
    rows = [
        [
            Cell(choice.loss),
            Cell(describe_setting(choice.chosen) if choice.chosen else NO_CHOICE),
            Cell(_score(choice.setting(choice.chosen).mean) if choice.chosen else "-"),
            Cell(str(len(choice.settings))),
            Cell(format_cost("wall_clock_s", choice.wall_clock_all_s)),
            Cell(format_cost("wall_clock_s", choice.wall_clock_chosen_s)),
            Cell(_extra(choice)),
        ]
        for choice in tuning.choices
    ]
    columns = ["loss", "chosen", f"validation {metric}", "settings", "training: all", "chosen", "extra"]
    notes = [
        f"chosen by {metric} on the validation part: {SELECTION_RULE}",
        f"test part: {split_text(tuning)}",
        "training: all = summed training wall-clock of every setting and seed (failed ones too); chosen = "
        "the chosen setting's alone; extra = what tuning added (all / chosen)",
    ]
    if tuning.not_split:
        notes.append(
            "no per-item values, so not split (corpus-level, lm-eval or held-out pairs): "
            f"{', '.join(tuning.not_split)} are measured on every evaluation item, validation part included"
        )
    if tuning.metric is None:
        notes.append("no metric has per-item scores: no setting could be chosen on a validation part")
    return Grid(f"{tuning.task}: tuned settings", columns, rows, [*notes, *tuning.notes])


def _settings_grid(tuning: TaskTuning) -> Grid:
    metric = tuning.metric or "(none)"
    rows = [
        [
            Cell(choice.loss),
            Cell(describe_setting(score.label), best=score.label == choice.chosen),
            Cell(_score(score.mean), best=score.label == choice.chosen),
            Cell(", ".join(f"seed{s} {format_number(v)}" for s, v in sorted(score.scores.items())) or "-"),
            Cell(f"{score.done}/{score.cells}"),
            Cell(format_cost("wall_clock_s", score.wall_clock_s)),
        ]
        for choice in tuning.choices
        for score in choice.settings
    ]
    columns = ["loss", "setting", f"validation {metric}", "per seed", "done", "training time"]
    notes = ["every setting trained; bold: the chosen one; validation: mean over seeds, validation part"]
    return Grid(f"{tuning.task}: every setting (validation part)", columns, rows, notes)


def _score(value: float) -> str:
    return "-" if math.isnan(value) else format_number(value)


def _extra(choice: Choice) -> str:
    extra = format_cost("wall_clock_s", choice.extra_wall_clock_s)
    chosen = choice.wall_clock_chosen_s
    ratio = f" ({choice.wall_clock_all_s / chosen:.1f}x)" if chosen > 0 else ""
    return f"+{extra}{ratio}"
