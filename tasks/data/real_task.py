"""Loading a benchmark from its public format: annotation entries paired with decoded videos.

Splits: annotation files named for a split are used as given; otherwise every annotation file is
pooled, shuffled by the data seed and split in the embedded world's proportion (``tiny``: 8 of 32 clips
for evaluation, ``default``: 64 of 576, at least one). ``size="tiny"`` also stops at the tiny world's
counts (24 training, 8 evaluation clips), so a smoke run on a real benchmark opens only a few dozen
videos.

Bad input never stops the load: a malformed entry, a duplicate id, a clip with no video and a video
that will not decode are each skipped with one message naming the file and the entry, collected in
``TaskData.skipped``. Only a missing, unreadable or malformed annotation file as a whole, or a data set
with nothing usable left, raises ``DataError``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synpo_bench.api.tasks import TaskData
from synpo_bench.tasks.data.annotations import (
    DataError,
    EntryError,
    EntryParser,
    RealEntry,
    find_annotation_files,
    read_annotation_file,
)
from synpo_bench.tasks.data.video import VIDEO_EXTENSIONS, VideoDecodeError, VideoIndex, decode_video
from synpo_bench.tasks.world.clips import world_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Located:
    entry: RealEntry
    where: str
    """'<file>: entry <n> ('<id>')', for messages."""


def load_real_task(
    task: str,
    data_dir: Path,
    parse_entry: EntryParser,
    *,
    seed: int,
    size: str,
    n_frames: int,
    frame_size: int,
) -> TaskData:
    """Read a benchmark in its public format; ``size="tiny"`` stops at the tiny world's clip counts."""
    data_dir = Path(data_dir)
    counts = world_size(size)
    limited = size == "tiny"
    files = find_annotation_files(data_dir)
    videos = VideoIndex(data_dir)
    skipped: list[str] = []
    frames: dict[str, np.ndarray] = {}

    def usable(paths: Sequence[Path], limit: int | None, shuffle: bool = False) -> list[_Located]:
        entries = _parse_files(paths, parse_entry, skipped)
        if shuffle:
            entries = _seeded_order(entries, seed)
        return _with_video(entries, videos, frames, n_frames, frame_size, skipped, limit)

    if files.pooled:
        pool = usable(files.pooled, counts["train"] + counts["test"] if limited else None, shuffle=True)
        eval_share = counts["test"] / (counts["train"] + counts["test"])
        n_eval = max(1, round(eval_share * len(pool))) if pool else 0
        train, evals = pool[n_eval:], pool[:n_eval]
    else:
        train = usable(files.train, counts["train"] if limited else None)
        evals = usable(files.eval, counts["test"] if limited else None)
    sources = ", ".join(str(path) for path in (*files.train, *files.eval, *files.pooled))
    if not train and not evals:
        first = f"; first problem: {skipped[0]}" if skipped else ""
        raise DataError(f"task '{task}': no usable entry in {sources} ({len(skipped)} skipped){first}")
    if skipped:
        log.warning("task '%s': skipped %d entries of %s; first: %s", task, len(skipped), sources, skipped[0])
    return TaskData(
        task=task,
        frames=frames,
        train=[example for item in train for example in item.entry.examples],
        eval=[example for item in evals for example in item.entry.examples],
        synthetic=False,
        facts={},
        skipped=skipped,
        source=sources,
    )


def _parse_files(paths: Sequence[Path], parse_entry: EntryParser, skipped: list[str]) -> list[_Located]:
    located: list[_Located] = []
    seen: set[str] = set()
    for path in paths:
        entries, bad_lines = read_annotation_file(path)
        skipped += bad_lines
        for number, raw in entries:
            try:
                entry = parse_entry(raw)
            except EntryError as error:
                skipped.append(f"{path}: entry {number}{_id_hint(raw)}: {error}")
                continue
            where = f"{path}: entry {number} ('{entry.clip_id}')"
            if entry.clip_id in seen:
                skipped.append(f"{where}: duplicate clip id, an earlier entry is kept")
                continue
            seen.add(entry.clip_id)
            located.append(_Located(entry, where))
    return located


def _id_hint(raw: Any) -> str:
    if isinstance(raw, dict):
        for key in ("videoID", "video_name", "video_id", "video", "id"):
            if isinstance(raw.get(key), str):
                return f" ('{raw[key]}')"
    return ""


def _seeded_order(entries: list[_Located], seed: int) -> list[_Located]:
    order = sorted(entries, key=lambda item: item.entry.clip_id)
    random.Random(seed).shuffle(order)
    return order


def _with_video(
    entries: Sequence[_Located],
    videos: VideoIndex,
    frames: dict[str, np.ndarray],
    n_frames: int,
    frame_size: int,
    skipped: list[str],
    limit: int | None,
) -> list[_Located]:
    """The entries whose video decodes, in order, up to ``limit`` of them (later ones are not opened)."""
    kept: list[_Located] = []
    for item in entries:
        if limit is not None and len(kept) >= limit:
            break
        path = videos.find(item.entry.video_name)
        if path is None:
            skipped.append(
                f"{item.where}: no video file '{item.entry.video_name}' "
                f"({'/'.join(VIDEO_EXTENSIONS)}) in {', '.join(videos.searched)}"
            )
            continue
        try:
            frames[item.entry.clip_id] = decode_video(path, n_frames, frame_size)
        except VideoDecodeError as error:
            skipped.append(f"{item.where}: {error}")
            continue
        kept.append(item)
    return kept
