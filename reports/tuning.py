"""Tuned runs (``synpo-bench run --tune``): setting labels, the validation/test split, and what was chosen.

A tuned cell lives in ``<run>/<task>/<loss>/<label>/seed<k>/``, ``label`` naming its setting, e.g.
``lr=3e-05,dpo.beta=0.1`` (``setting_label``: shared keys first, then the loss's, each alphabetically;
values as Python's shortest round-trip float text, so ``parse_label`` gives the exact floats back).

Selection must never look at the items it is reported on: a task's evaluation items are split by clip
id (every dimension of a clip on the same side), seeded by the data seed and nothing else (not the loss,
the seed or the setting), into a validation part (``VALIDATION_FRACTION`` of the clips) that chooses
each loss's setting and a test part its metrics are reported on (``reports.selection``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

VALIDATION_FRACTION = 0.5
"""The share of a task's evaluation clips that chooses the settings; the rest is reported on."""
SELECTION_RULE = (
    "each loss's setting with the highest mean over seeds of its validation score (the settings done on "
    "the most seeds compete; a tie goes to the smaller values, key by key); its metrics are then "
    "reported on the test part only"
)


def setting_label(values: Mapping[str, float]) -> str:
    """``{"dpo.beta": 0.1, "lr": 3e-05}`` -> ``lr=3e-05,dpo.beta=0.1``: a folder name, the same for the
    same setting whatever order ``--tune`` options came in."""
    keys = sorted(values, key=lambda key: ("." in key, key))
    return ",".join(f"{key}={float(values[key])!r}" for key in keys)


def parse_label(label: str) -> dict[str, float] | None:
    """The setting a folder label names, or None when it is not a label (``setting_label``'s inverse)."""
    values: dict[str, float] = {}
    for part in label.split(","):
        key, sep, raw = part.partition("=")
        try:
            value = float(raw)
        except ValueError:
            return None
        if not sep or not key or not math.isfinite(value):
            return None
        values[key] = value
    return values


def describe_setting(label: str) -> str:
    """``lr=3e-05,dpo.beta=0.1`` -> ``lr=3e-05, dpo.beta=0.1`` (for tables)."""
    return label.replace(",", ", ")


def validation_clips(clips: Iterable[str], data_seed: int) -> set[str]:
    """The clips of the validation part: the first ``VALIDATION_FRACTION`` of the clips ordered by a hash
    of (data seed, clip id), so the split depends on the data alone; at least one clip stays on each side
    when there are two or more."""
    unique = sorted(set(clips))
    if len(unique) < 2:
        return set()
    ordered = sorted(unique, key=lambda clip: hashlib.sha256(f"{data_seed}/{clip}".encode()).hexdigest())
    count = min(max(1, round(len(ordered) * VALIDATION_FRACTION)), len(ordered) - 1)
    return set(ordered[:count])


@dataclass(frozen=True)
class SettingScore:
    """One setting of one loss: its validation score per seed and what its cells cost."""

    label: str
    values: dict[str, float]
    scores: dict[int, float]
    """Seed -> the selection metric's mean over the validation items (done cells with item scores)."""
    cells: int
    done: int
    wall_clock_s: float
    """Training wall-clock of every cell of the setting, done or failed, summed."""

    @property
    def mean(self) -> float:
        return sum(self.scores.values()) / len(self.scores) if self.scores else math.nan


@dataclass(frozen=True)
class Choice:
    """A loss's settings and the one chosen (None when none has a validation score)."""

    loss: str
    chosen: str | None
    settings: list[SettingScore]
    shown: str
    """The setting whose cells the report shows: the chosen one, or, without a choice, the one done most."""

    def setting(self, label: str) -> SettingScore:
        return next(score for score in self.settings if score.label == label)

    @property
    def wall_clock_all_s(self) -> float:
        return sum(score.wall_clock_s for score in self.settings)

    @property
    def wall_clock_chosen_s(self) -> float:
        return self.setting(self.shown).wall_clock_s

    @property
    def extra_wall_clock_s(self) -> float:
        """What tuning cost beyond training the chosen setting alone."""
        return self.wall_clock_all_s - self.wall_clock_chosen_s


@dataclass
class TaskTuning:
    """One task of a tuned run: the split, the selection metric, each loss's choice."""

    task: str
    metric: str | None
    """The metric the settings were chosen by: the first headline metric with per-item scores."""
    data_seed: int
    validation_items: int
    test_items: int
    validation_clips: int
    test_clips: int
    choices: list[Choice] = field(default_factory=list)
    not_split: list[str] = field(default_factory=list)
    """Metrics without per-item values (corpus-level, lm-eval, held-out pairs): shown on every item."""
    notes: list[str] = field(default_factory=list)

    def choice(self, loss: str) -> Choice | None:
        return next((choice for choice in self.choices if choice.loss == loss), None)


@dataclass
class Tuning:
    """Every tuned task of a run (``Results.tuning``; None for a shared run)."""

    tasks: dict[str, TaskTuning] = field(default_factory=dict)
