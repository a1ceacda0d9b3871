"""What the three video caption adapters (VATEX, VDC, VDD) share: the embedded world or the benchmark's
public format at the same frame count and size, the field names a video's name may go by, and one scoring
pass per set of predictions for both ``evaluate`` and ``item_scores`` (a judge grades each caption once)."""

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
        self._last: tuple[tuple[Any, ...], Scored] | None = None

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
        """The task's metrics and its per-example values (see ``TaskAdapter.item_scores``)."""
        raise NotImplementedError

    def evaluate(
        self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge
    ) -> dict[str, float]:
        return dict(self._scored(predictions, data, judge)[0])

    def item_scores(
        self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge
    ) -> list[dict[str, float]] | None:
        return [dict(item) for item in self._scored(predictions, data, judge)[1]]

    def _scored(self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge) -> Scored:
        """``score``, kept for the last inputs: the engine asks for the metrics, then for the items, of
        the same captions, and an LLM judge must not be paid (nor sampled) twice for them."""
        key = (data, judge, tuple(sorted(predictions.items())))
        last = self._last
        if last is not None and last[0][0] is data and last[0][1] is judge and last[0][2] == key[2]:
            return last[1]
        scored = self.score(predictions, data, judge)
        self._last = (key, scored)
        return scored
