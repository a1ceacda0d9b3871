"""Video files: finding a clip's video in a data folder, decoding sampled frames, writing a clip.

Videos: ``<id>.<ext>`` (mp4, mkv, webm, avi, mov) in the folder, in ``videos/``, or in any other direct
sub-folder (lmms-eval unpacks to ``Test_Videos/``). Decoding samples ``n_frames`` frames uniformly
(centres of equal segments) and resizes each to ``size`` x ``size`` RGB (squashing the aspect ratio, as
the frame encoder expects square inputs).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import av
import numpy as np

from synpo_bench.tasks.data.annotations import DataError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


class VideoDecodeError(DataError):
    """One video file that PyAV cannot decode."""


def strip_video_extension(name: str) -> str:
    path = Path(name)
    return path.stem if path.suffix.lower() in VIDEO_EXTENSIONS else name


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
