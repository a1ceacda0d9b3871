"""The real-data path: annotation files, video lookup, PyAV decoding, and tolerant loading.

Annotation files (``find_annotation_files``): ``--data-dir`` is either one annotation file or a folder
holding ``*.json`` / ``*.jsonl`` files. In a folder, files whose name contains "train" are the training
split and files whose name contains "val", "test" or "eval" the evaluation split; when both kinds are
present they are used as given, otherwise every annotation file is pooled, shuffled by the data seed
and split in the embedded world's proportion (``tiny``: 8 of 32 clips for evaluation, ``default``: 64 of
576, at least one). ``size="tiny"`` also stops at the tiny world's counts (24 training, 8 evaluation
clips), so a smoke run on a real benchmark opens only a few dozen videos.

Formats: a ``.json`` file holds a JSON list of entries (or an object with the list under
"annotations", "data", "entries" or "videos"); a ``.jsonl`` file (or a ``.json`` file that turns out
to be JSON Lines) one entry per line.

Videos: ``<id>.<ext>`` (mp4, mkv, webm, avi, mov) in the folder, in ``videos/``, or in any other direct
sub-folder (lmms-eval unpacks to ``Test_Videos/``). Decoding samples ``n_frames`` frames uniformly
(centres of equal segments) and resizes each to ``size`` x ``size`` RGB (squashing the aspect ratio, as
the frame encoder expects square inputs).

Bad input never stops the load: a malformed entry, a duplicate id, a clip with no video and a video
that will not decode are each skipped with one message naming the file and the entry, collected in
``TaskData.skipped``. Only a missing, unreadable or malformed annotation file as a whole, or a data set
with nothing usable left, raises ``DataError``.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from synpo_bench.tasks.world import world_size

from synpo_bench.api.errors import UserError
from synpo_bench.api.tasks import CaptionExample, TaskData

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")
ANNOTATION_EXTENSIONS = (".json", ".jsonl")
_LIST_KEYS = ("annotations", "data", "entries", "videos")


class DataError(ValueError, UserError):
    """An annotation file (or data folder) that cannot be used at all; the message names the path."""


class VideoDecodeError(DataError):
    """One video file that PyAV cannot decode."""


class EntryError(ValueError):
    """One malformed annotation entry; the loader skips it and records the reason."""


# --------------------------------------------------------------------------------------- annotations


@dataclass(frozen=True)
class AnnotationFiles:
    train: tuple[Path, ...]
    eval: tuple[Path, ...]
    pooled: tuple[Path, ...]
    """Files without a split in their name: pooled and split by the data seed."""


def find_annotation_files(data_dir: Path) -> AnnotationFiles:
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise DataError(f"data path {data_dir} does not exist")
    if data_dir.is_file():
        return AnnotationFiles((), (), (data_dir,))
    files = sorted(
        path for path in data_dir.iterdir() if path.is_file() and path.suffix.lower() in ANNOTATION_EXTENSIONS
    )
    if not files:
        raise DataError(f"no annotation file (*.json or *.jsonl) in {data_dir}")
    train = tuple(path for path in files if "train" in path.stem.lower())
    evals = tuple(
        path
        for path in files
        if path not in train and any(word in path.stem.lower() for word in ("val", "test", "eval"))
    )
    if train and evals:
        return AnnotationFiles(train, evals, ())
    return AnnotationFiles((), (), tuple(files))


def read_annotation_file(path: Path) -> tuple[list[tuple[int, Any]], list[str]]:
    """(entry number, raw entry) pairs, and one message per JSON Lines line that is not JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read annotation file {path}: {error}") from error
    if not text.strip():
        raise DataError(f"annotation file {path} is empty")
    if path.suffix.lower() == ".jsonl":
        return _read_json_lines(path, text)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":  # JSON Lines under a .json name
            return _read_json_lines(path, text)
        raise DataError(f"annotation file {path} is not valid JSON: {error}") from error
    return list(enumerate(_entry_list(path, document))), []


def _entry_list(path: Path, document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in _LIST_KEYS:
            if isinstance(document.get(key), list):
                return document[key]
    raise DataError(
        f"annotation file {path} must hold a JSON list of entries (or an object with the list under "
        f"{', '.join(repr(k) for k in _LIST_KEYS)}); found {type(document).__name__}"
    )


def _read_json_lines(path: Path, text: str) -> tuple[list[tuple[int, Any]], list[str]]:
    entries: list[tuple[int, Any]] = []
    skipped: list[str] = []
    for number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            entries.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            skipped.append(f"{path}: entry {number} (line {number + 1}): not valid JSON ({error.msg})")
    if not entries:
        raise DataError(f"annotation file {path} holds no valid JSON line")
    return entries, skipped


def text_field(entry: Any, names: Sequence[str], what: str) -> str:
    """The first of ``names`` in the entry as a non-empty string, else ``EntryError``."""
    if not isinstance(entry, dict):
        raise EntryError(f"expected a JSON object, found {type(entry).__name__}")
    for name in names:
        value = entry.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value is not None and not isinstance(value, str):
            raise EntryError(f"'{name}' must be a string, found {type(value).__name__}")
    raise EntryError(f"no {what} (looked for {', '.join(repr(n) for n in names)})")


def strip_video_extension(name: str) -> str:
    path = Path(name)
    return path.stem if path.suffix.lower() in VIDEO_EXTENSIONS else name


# -------------------------------------------------------------------------------------------- videos


class VideoIndex:
    """Video files in a data folder, its ``videos/`` folder and its other direct sub-folders."""

    def __init__(self, data_dir: Path) -> None:
        root = data_dir if data_dir.is_dir() else data_dir.parent
        folders = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
        folders.sort(key=lambda folder: (folder != root, folder.name != "videos"))
        self.searched = [str(folder) for folder in folders]
        self._by_name: dict[str, Path] = {}
        self._by_stem: dict[str, Path] = {}
        for folder in folders:
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
                    self._by_name.setdefault(path.name, path)
                    self._by_stem.setdefault(path.stem, path)

    def find(self, video_name: str) -> Path | None:
        return self._by_name.get(video_name) or self._by_stem.get(strip_video_extension(video_name))


def uniform_indices(total: int, n: int) -> list[int]:
    """Centres of ``n`` equal segments of ``total`` frames (repeats when the video is shorter)."""
    return [min(total - 1, int((k + 0.5) * total / n)) for k in range(n)]


def _expected_frame_count(stream: Any) -> int:
    if stream.frames:
        return int(stream.frames)
    if stream.duration and stream.time_base and stream.average_rate:
        return int(float(stream.duration * stream.time_base) * float(stream.average_rate))
    return 0


def decode_video(path: Path, n_frames: int, size: int) -> np.ndarray:
    """``n_frames`` RGB frames sampled uniformly, resized to ``size`` x ``size``: uint8 [n, size, size, 3]."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: cannot decode video (no video stream)")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = _sample_frames(container.decode(stream), _expected_frame_count(stream), n_frames, size)
    except VideoDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError, IndexError, EOFError) as error:
        raise VideoDecodeError(f"{path}: cannot decode video ({type(error).__name__}: {error})") from error
    if not frames:
        raise VideoDecodeError(f"{path}: cannot decode video (no decodable frame)")
    return np.stack(frames)


def _to_rgb(frame: Any, size: int) -> np.ndarray:
    return frame.to_ndarray(format="rgb24", width=size, height=size)


def _sample_frames(decoded: Iterable[Any], expected: int, n_frames: int, size: int) -> list[np.ndarray]:
    """Convert only the frames wanted when the count is known; otherwise keep all (small) and pick after."""
    if expected <= 0:
        every = [_to_rgb(frame, size) for frame in decoded]
        return [every[i] for i in uniform_indices(len(every), n_frames)] if every else []
    wanted = uniform_indices(expected, n_frames)
    picked: list[np.ndarray] = []
    last = None
    for number, frame in enumerate(decoded):
        last = frame
        while len(picked) < n_frames and wanted[len(picked)] == number:
            picked.append(_to_rgb(frame, size))
        if len(picked) == n_frames:
            break
    if picked and len(picked) < n_frames and last is not None:  # the header over-counted the frames
        picked += [_to_rgb(last, size)] * (n_frames - len(picked))
    return picked


def write_video(path: Path, frames: np.ndarray, fps: int = 8) -> None:
    """Write uint8 RGB frames ``[n, h, w, 3]`` (h, w even) as an MPEG-4 video."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
        stream.pix_fmt = "yuv420p"
        for image in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ------------------------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class RealEntry:
    """One parsed annotation entry: its clip, where its video is named, and its caption examples."""

    clip_id: str
    video_name: str
    examples: tuple[CaptionExample, ...]


EntryParser = Callable[[Any], RealEntry]


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
