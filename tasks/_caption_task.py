"""What the three video caption adapters (VATEX, VDC, VDD) share: the embedded world or the benchmark's
public format at the same frame count and size, the field names a video's name may go by, and one scoring
pass (``score``) that ``evaluate`` and ``item_scores`` both read, which the engine calls once so that a
judge grades each caption once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from synpo_bench.api.judges import Judge
from synpo_bench.api.tasks import TaskAdapter, TaskData
from synpo_bench.tasks.data.annotations import EntryParser, RealEntry
from synpo_bench.tasks.data.real_task import load_real_task
from synpo_bench.tasks.world.clips import DEFAULT_FRAME_SIZE, DEFAULT_FRAMES
from synpo_bench.tasks.world.references import embedded_task_data

VIDEO_NAME_KEYS = ("video_name", "video_id", "videoID", "video", "id")
"""Where VDC and VDD annotation entries name their video, in the order they are looked for."""

Scored = tuple[dict[str, float], list[dict[str, float]]]
"""The metrics of a set of predictions and, per eval example, its per-example values."""


class VideoCaptionTask(TaskAdapter):
    """A caption task over video clips; subclasses name their dimensions and their entry parser, and score
    predictions in ``score`` (metrics and per-example values together)."""

    dimensions: ClassVar[tuple[str, ...]]

    def __init__(self, n_frames: int = DEFAULT_FRAMES, frame_size: int = DEFAULT_FRAME_SIZE) -> None:
        self.n_frames = n_frames
        self.frame_size = frame_size

    @staticmethod
    def parse_entry(raw: Any) -> RealEntry:
        """One annotation entry of the benchmark's public format -> clip id, video name, examples."""
        raise NotImplementedError

    def load(self, data_dir: Path | None, *, seed: int = 0, size: str = "default") -> TaskData:
        settings = {"seed": seed, "size": size, "n_frames": self.n_frames, "frame_size": self.frame_size}
        if data_dir is None:
            return embedded_task_data(self.name, self.dimensions, **settings)
        parse: EntryParser = self.parse_entry
        return load_real_task(self.name, data_dir, parse, **settings)

    def score(self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge) -> Scored:
        """The task's metrics and its per-example values from one grading pass (``TaskAdapter.score``)."""
        raise NotImplementedError

    def evaluate(
        self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge
    ) -> dict[str, float]:
        return self.score(predictions, data, judge)[0]

    def item_scores(
        self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge
    ) -> list[dict[str, float]] | None:
        return self.score(predictions, data, judge)[1]
