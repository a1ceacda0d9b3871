"""What the three video caption adapters share: the embedded world or the real format, same frame size."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from synpo_bench.tasks.references import embedded_task_data
from synpo_bench.tasks.video_io import RealEntry, load_real_task
from synpo_bench.tasks.world import DEFAULT_FRAME_SIZE, DEFAULT_FRAMES

from synpo_bench.api.tasks import TaskAdapter, TaskData


class VideoCaptionTask(TaskAdapter):
    """A caption task over video clips; subclasses name their dimensions and their entry parser."""

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
        parse: Callable[[Any], RealEntry] = self.parse_entry
        return load_real_task(self.name, data_dir, parse, **settings)
