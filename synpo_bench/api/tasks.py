"""The task contract: data types, the ``TaskAdapter`` base, ``@register_task`` and the task registry.

A task adapter loads one benchmark (the embedded synthetic world, or the real public format from
``--data-dir``) into a ``TaskData``: decoded clips, SFT/eval examples and, for synthetic data, the ground
truth facts the exact judge grades against. It also scores predictions with the benchmark's metrics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np

from synpo_bench.api.facts import ClipFacts
from synpo_bench.api.judges import Judge
from synpo_bench.api.registry import Registry


@dataclass(frozen=True)
class CaptionExample:
    """One prompt about one clip with its reference answers (1 for VDC/VDD dimensions, 10 for VATEX)."""

    clip_id: str
    dimension: str
    """Which caption is asked for: "caption" (VATEX), "short", "detailed", "background", "main_object",
    "camera" (VDC), or "description" (VDD)."""
    prompt: str
    references: tuple[str, ...]


@dataclass(frozen=True)
class PreferencePair:
    """One training pair; ``scores`` keeps the judge's full ratings for the pair file."""

    clip_id: str
    prompt: str
    chosen: str
    rejected: str
    chosen_score: float
    rejected_score: float
    scores: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class TaskData:
    """Everything one task needs, loaded once and shared by every loss and seed of a run."""

    task: str
    frames: dict[str, np.ndarray]
    """clip id -> uint8 array [n_frames, height, width, 3]."""
    train: list[CaptionExample]
    """Examples for the SFT warm start and for sampling preference pairs."""
    eval: list[CaptionExample]
    """Held-out examples the trained policy is scored on (clips disjoint from ``train``)."""
    synthetic: bool
    """True for the embedded default world; reports label such results as synthetic."""
    facts: dict[str, ClipFacts] = field(default_factory=dict)
    """clip id -> ground-truth facts (synthetic data only), for the exact-fact judge."""
    skipped: list[str] = field(default_factory=list)
    """One message per entry that could not be loaded (file and entry named), counted in reports."""
    source: str = ""
    """Where the data came from: "synthetic(seed=...)" or the annotation file path."""
    train_pairs: list[PreferencePair] = field(default_factory=list)
    """Preference pairs the data set itself gives (text preference data): trained on as given. Empty
    for caption tasks, whose pairs are sampled from the warm-started model and rated by a judge."""
    eval_pairs: list[PreferencePair] = field(default_factory=list)
    """Held-out pairs the data set gives, for preference accuracy."""


@runtime_checkable
class ReadsVideo(Protocol):
    """An adapter whose clips have a frame count and size the run sets (``--frames``, ``--frame-size``)."""

    n_frames: int
    frame_size: int


class TaskAdapter(ABC):
    """A task family. Subclasses are registered with ``register_task``."""

    name: ClassVar[str]
    description: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    """Names of the quality metrics ``evaluate`` returns (higher is better for all of them)."""
    headline: ClassVar[tuple[str, ...]] = ()
    """The few metrics a one-line summary shows (the run's end-of-run table)."""

    @abstractmethod
    def load(self, data_dir: Path | None, *, seed: int = 0, size: str = "default") -> TaskData:
        """Load the benchmark from ``data_dir`` (its public format), or build the embedded default."""

    @abstractmethod
    def evaluate(
        self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge
    ) -> dict[str, float]:
        """Score predictions keyed by (clip id, dimension) against ``data.eval``; returns metric -> value."""

    def item_scores(
        self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge
    ) -> list[dict[str, float]] | None:
        """Per eval example (``data.eval`` order), the value of each metric that is a mean over examples,
        so reports can compare two models on the same items (paired). Contract: for every key, the mean of
        the values over the examples that carry it is the metric ``evaluate`` returns under that name.
        Corpus-level metrics (BLEU, METEOR) have no per-example value and are left out. By default: None
        (the task writes no per-example scores and its comparisons are unpaired)."""
        return None

    def score(
        self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge
    ) -> tuple[dict[str, float], list[dict[str, float]] | None]:
        """``evaluate`` and ``item_scores`` in one pass: what the engine calls, once per set of captions.
        A task whose two share their work (a judge grading every caption) overrides this instead, so a
        judge is asked once per caption."""
        return dict(self.evaluate(predictions, data, judge)), self.item_scores(predictions, data, judge)

    def check_evaluable(self, data: TaskData, judge: Judge) -> None:
        """Raise ``UserError`` if ``evaluate`` cannot score ``data`` with ``judge`` (e.g. a judge that needs
        ground-truth facts, on real data). Called right after loading, before the warm start and any
        training, so such a run fails at once instead of at its first evaluation. By default: nothing."""
        return None


TASKS: Registry[type[TaskAdapter]] = Registry("task", "tasks", "synpo_bench.tasks", "synpo_bench.tasks")

A = TypeVar("A", bound=type[TaskAdapter])


def register_task(name: str, aliases: Iterable[str] = ()) -> Callable[[A], A]:
    """Register a task adapter class under ``name`` (and aliases such as lmms-eval task names)."""

    def decorate(adapter: A) -> A:
        TASKS.add(name, adapter, aliases)
        return adapter

    return decorate


def get_task(name: str) -> type[TaskAdapter]:
    return TASKS.get(name)


def list_tasks() -> list[str]:
    return TASKS.names()
