"""The real-data path: public annotation formats, PyAV-decoded videos, and every kind of bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from synpo_bench.api.errors import UserError
from synpo_bench.tasks.data.annotations import DataError, find_annotation_files
from synpo_bench.tasks.data.video import VideoDecodeError, decode_video, uniform_indices
from synpo_bench.tasks.vatex import VatexTask
from synpo_bench.tasks.vdc import VdcTask
from synpo_bench.tasks.vdd import VddTask

N_SOURCE_FRAMES = 16


def level(k: int) -> int:
    """Grey level of source frame k."""
    return 10 + 15 * k


def write_clip(path: Path, width: int = 48, height: int = 32) -> None:
    """A 16-frame MPEG-4 clip whose frame k is a flat grey of level(k), written with PyAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for k in range(N_SOURCE_FRAMES):
            image = np.full((height, width, 3), level(k), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def write_corrupt(path: Path) -> None:
    """The first half of a real clip: the MP4 index (written last) is missing, nothing decodes."""
    write_clip(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def vatex_dir(tmp_path: Path) -> Path:
    """Six entries: three good, one corrupt video, one without video, one malformed (no enCap)."""
    for clip in ("clip_a", "clip_b", "clip_c"):
        write_clip(tmp_path / "videos" / f"{clip}.mp4")
    write_corrupt(tmp_path / "videos" / "clip_bad.mp4")
    entries = [
        {"videoID": "clip_a", "enCap": ["A man runs.", "Someone is running."]},
        {"videoID": "clip_bad", "enCap": ["A corrupt clip."]},
        {"videoID": "clip_b", "enCap": ["A dog jumps."], "chCap": ["..."]},
        {"videoID": "clip_missing", "enCap": ["No video for this one."]},
        {"videoID": "clip_broken"},
        {"videoID": "clip_c", "enCap": ["A cat sleeps."]},
    ]
    (tmp_path / "vatex_validation_v1.0.json").write_text(json.dumps(entries))
    return tmp_path


# -------------------------------------------------------------------------------------------- decode


def test_decode_samples_uniformly_and_resizes(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    write_clip(path)
    frames = decode_video(path, n_frames=8, size=32)
    assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
    # 8 of 16 frames, segment centres: 1, 3, ..., 15 -> levels 25, 55, ..., 235 (MPEG-4 is lossy: +-4)
    assert uniform_indices(16, 8) == [1, 3, 5, 7, 9, 11, 13, 15]
    expected = [level(k) for k in range(1, 16, 2)]
    assert np.abs(frames[:, 16, 16, 0].astype(int) - expected).max() <= 4


def test_decode_failure_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    write_corrupt(path)
    with pytest.raises(VideoDecodeError, match=r"broken\.mp4"):
        decode_video(path, 8, 32)


# ------------------------------------------------------------------------------------- tolerant load


def test_vatex_loads_good_entries_and_counts_every_skip(vatex_dir: Path) -> None:
    data = VatexTask().load(vatex_dir, seed=0, size="default")
    assert not data.synthetic and data.facts == {}
    annotation = str(vatex_dir / "vatex_validation_v1.0.json")
    assert data.source == annotation
    assert sorted(data.frames) == ["clip_a", "clip_b", "clip_c"]
    assert all(frames.shape == (8, 32, 32, 3) for frames in data.frames.values())
    # Pooled single file, 3 usable clips, the default world's share 64/576: round(0.33) -> at least 1.
    assert (len(data.train), len(data.eval)) == (2, 1)
    assert {e.clip_id for e in data.train}.isdisjoint({e.clip_id for e in data.eval})
    # Three skips, each naming the annotation file and the entry.
    assert len(data.skipped) == 3
    by_clip = {
        clip: [m for m in data.skipped if f"'{clip}'" in m]
        for clip in ("clip_broken", "clip_bad", "clip_missing")
    }
    assert all(len(messages) == 1 and annotation in messages[0] for messages in by_clip.values())
    assert "enCap" in by_clip["clip_broken"][0] and "entry 4" in by_clip["clip_broken"][0]
    assert "cannot decode" in by_clip["clip_bad"][0] and "clip_bad.mp4" in by_clip["clip_bad"][0]
    assert "no video file" in by_clip["clip_missing"][0]
    example = next(e for e in data.train + data.eval if e.clip_id == "clip_a")
    assert example.references == ("A man runs.", "Someone is running.") and example.dimension == "caption"


def test_split_files_are_used_as_given(tmp_path: Path) -> None:
    for clip in ("one", "two", "three"):
        write_clip(tmp_path / "videos" / f"{clip}.mp4")
    (tmp_path / "train.json").write_text(
        json.dumps([{"videoID": c, "enCap": ["x y."]} for c in ("one", "two")])
    )
    (tmp_path / "test.json").write_text(json.dumps([{"videoID": "three", "enCap": ["z w."]}]))
    data = VatexTask(n_frames=4, frame_size=16).load(tmp_path, seed=0)
    assert [e.clip_id for e in data.train] == ["one", "two"] and [e.clip_id for e in data.eval] == ["three"]
    assert data.frames["three"].shape == (4, 16, 16, 3)


def test_vdc_jsonl_as_auroracap_releases_it(tmp_path: Path) -> None:
    dims = ("short", "detailed", "background", "main_object", "camera")
    write_clip(tmp_path / "videos" / "v1.mp4")
    write_clip(tmp_path / "Test_Videos" / "v2.mp4")
    lines = [
        json.dumps({"video_name": "v1.mp4", **{f"{d}_caption": f"{d} of v1." for d in dims}}),
        "{not json",
        json.dumps({"video_id": "v2", "captions": {"camera": "The camera pans.", "short": "A car drives."}}),
        json.dumps({"video_name": "v3.mp4", "unrelated": 1}),
    ]
    (tmp_path / "VDC_1k.jsonl").write_text("\n".join(lines) + "\n")
    data = VdcTask().load(tmp_path, seed=0)
    examples = {(e.clip_id, e.dimension): e.references for e in data.train + data.eval}
    assert len([k for k in examples if k[0] == "v1"]) == 5
    assert examples[("v1", "main_object")] == ("main_object of v1.",)
    assert sorted(k[1] for k in examples if k[0] == "v2") == ["camera", "short"]
    assert len(data.skipped) == 2
    assert any("entry 1 (line 2)" in m and "not valid JSON" in m for m in data.skipped)
    assert any("'v3.mp4'" in m and "no caption of any dimension" in m for m in data.skipped)


def test_vdd_json_with_question_and_answer(tmp_path: Path) -> None:
    write_clip(tmp_path / "d1.mp4")
    entries = [
        {"video_name": "d1", "question": "Describe the video in detail.", "answer": "A long description."},
        ["not", "an", "object"],
    ]
    (tmp_path / "video_dc499.json").write_text(json.dumps(entries))
    data = VddTask().load(tmp_path, seed=0)
    (example,) = data.eval
    assert (example.clip_id, example.prompt, example.references) == (
        "d1",
        "Describe the video in detail.",
        ("A long description.",),
    )
    assert (
        len(data.skipped) == 1
        and "entry 1" in data.skipped[0]
        and "expected a JSON object" in data.skipped[0]
    )


def test_tiny_size_caps_real_data(tmp_path: Path) -> None:
    write_clip(tmp_path / "source.mp4")
    for i in range(60):
        shutil.copy(tmp_path / "source.mp4", tmp_path / f"c{i:02d}.mp4")
    (tmp_path / "source.mp4").unlink()
    (tmp_path / "ann.json").write_text(
        json.dumps([{"videoID": f"c{i:02d}", "enCap": ["x."]} for i in range(60)])
    )
    data = VatexTask().load(tmp_path, seed=0, size="tiny")
    # Decoding stops at the tiny world's 32 clips, split 24 / 8; the other 28 videos are never opened.
    assert (len(data.train), len(data.eval), len(data.frames), len(data.skipped)) == (24, 8, 32, 0)


# ---------------------------------------------------------------------------- unusable annotations


def test_missing_annotation_file_or_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as error:
        VatexTask().load(tmp_path / "nowhere", seed=0)
    assert str(tmp_path / "nowhere") in str(error.value)
    with pytest.raises(DataError, match="no annotation file"):
        VatexTask().load(tmp_path, seed=0)
    assert issubclass(DataError, ValueError) and issubclass(DataError, UserError)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"videoID": "a", "enCap": ["x"]', "not valid JSON"),
        ('{"videoID": "a"}', "must hold a JSON list"),
        ("", "is empty"),
    ],
)
def test_malformed_annotation_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "vatex.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as error:
        VatexTask().load(tmp_path, seed=0)
    assert str(path) in str(error.value)


def test_nothing_usable_is_an_error_naming_the_first_problem(tmp_path: Path) -> None:
    (tmp_path / "vatex.json").write_text(json.dumps([{"videoID": "ghost", "enCap": ["x."]}]))
    with pytest.raises(DataError, match=r"no usable entry.*ghost"):
        VatexTask().load(tmp_path, seed=0)


def test_single_annotation_file_path(vatex_dir: Path) -> None:
    data = VatexTask().load(vatex_dir / "vatex_validation_v1.0.json", seed=1)
    assert sorted(data.frames) == ["clip_a", "clip_b", "clip_c"] and len(data.skipped) == 3
    assert find_annotation_files(vatex_dir).pooled == (vatex_dir / "vatex_validation_v1.0.json",)
