"""The embedded world: determinism, disjoint splits, and frames that really show the facts."""

from __future__ import annotations

import numpy as np
import pytest

from synpo_bench.api.facts import ClipFacts, ObjectFacts
from synpo_bench.tasks.world.clips import (
    BACKGROUNDS,
    CAMERA_MOTIONS,
    COLOURS,
    MOTIONS,
    SHAPES,
    make_clips,
    render,
    sample_facts,
    world_clips,
    world_size,
)


def one_object(
    shape: str = "circle",
    size: str = "large",
    motion: str = "still",
    camera: str = "static",
    background: str = "black",
    x0: float = 0.5,
    y0: float = 0.5,
) -> ClipFacts:
    obj = ObjectFacts(shape, "red", size, motion, x0, y0)
    return ClipFacts("test-00000", (obj,), background, camera, texture_seed=7)


def red_mask(frames: np.ndarray) -> np.ndarray:
    """[T, H, W] pixels painted exactly in the world's red."""
    return np.all(frames == np.array(COLOURS["red"], dtype=np.uint8), axis=-1)


def centroid(mask: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(mask)
    return float(cols.mean()), float(rows.mean())


# --------------------------------------------------------------------------------------- determinism


def test_same_seed_same_clips_and_frames() -> None:
    first, second = make_clips("train", 3, seed=5), make_clips("train", 3, seed=5)
    assert [c.facts for c in first] == [c.facts for c in second]
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.frames, b.frames)


def test_clip_does_not_depend_on_how_many_are_asked_for() -> None:
    alone = make_clips("train", 1, seed=5, start=2)[0]
    among = make_clips("train", 3, seed=5)[2]
    assert alone.clip_id == among.clip_id == "train-00002"
    assert alone.facts == among.facts


def test_seed_changes_the_world() -> None:
    assert [sample_facts("train", i, 0) for i in range(5)] != [sample_facts("train", i, 1) for i in range(5)]


def test_splits_never_share_a_clip() -> None:
    splits = {split: make_clips(split, 8, seed=3) for split in ("train", "val", "test")}
    ids = {split: {clip.clip_id for clip in clips} for split, clips in splits.items()}
    assert ids["train"].isdisjoint(ids["val"]) and ids["train"].isdisjoint(ids["test"])
    assert ids["val"].isdisjoint(ids["test"])
    assert all(clip_id.startswith(f"{split}-") for split, group in ids.items() for clip_id in group)
    train_frames = [clip.frames.tobytes() for clip in splits["train"]]
    assert not any(clip.frames.tobytes() in train_frames for clip in splits["test"] + splits["val"])
    # Same index, different split: different random stream, not a relabelled copy.
    assert [c.facts.objects for c in splits["train"]] != [c.facts.objects for c in splits["test"]]


def test_unknown_split_and_size_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown split"):
        make_clips("dev", 1)
    with pytest.raises(ValueError, match="unknown world size"):
        world_size("huge")


def test_world_sizes() -> None:
    train, test = world_clips(0, "tiny")
    assert (len(train), len(test)) == (24, 8)
    assert world_size("default") == {"train": 512, "val": 64, "test": 256}


# ------------------------------------------------------------------------------------------- facts


def test_facts_follow_the_rules() -> None:
    counts = set()
    for index in range(200):
        facts = sample_facts("train", index, 11)
        objects = facts.objects
        counts.add(len(objects))
        assert facts.background in BACKGROUNDS and facts.camera in CAMERA_MOTIONS
        assert all(o.shape in SHAPES and o.colour in COLOURS and o.motion in MOTIONS for o in objects)
        assert len({o.colour for o in objects}) == len(objects), "colours are distinct within a clip"
        if len(objects) > 1:  # the main object is the only large one
            assert [o.size for o in objects] == ["large"] + ["small"] * (len(objects) - 1)
    assert counts == {1, 2, 3}


def test_frame_shape_dtype_and_configurable_size() -> None:
    clip = make_clips("val", 1, seed=0)[0]
    assert clip.frames.shape == (8, 32, 32, 3) and clip.frames.dtype == np.uint8
    assert not clip.frames.flags.writeable
    small = make_clips("val", 1, seed=0, n_frames=5, size=24)[0]
    assert small.frames.shape == (5, 24, 24, 3)
    assert small.facts == clip.facts


# ----------------------------------------------------------------------------- pixels show the facts
# Frame 32 px, static camera: objects travel 0.3*32 = 9.6 px over the clip; a pan moves the view
# 0.25*32 = 8 px. Areas are checked on 96 px frames, where pixel quantisation is small: large radius
# 0.2*96 = 19.2 px, small 0.11*96 = 10.56 px.


@pytest.mark.parametrize(
    ("shape", "size", "expected_area"),
    [
        ("circle", "large", np.pi * 19.2**2),  # 1158
        ("circle", "small", np.pi * 10.56**2),  # 350
        ("square", "large", (2 * 0.85 * 19.2) ** 2),  # 1065
        ("triangle", "large", 1.8 * 19.2**2),  # base 2r x height 1.8r / 2 = 664
    ],
)
def test_shape_and_size_are_drawn(shape: str, size: str, expected_area: float) -> None:
    frames = render(one_object(shape=shape, size=size), size=96)
    area = red_mask(frames[0]).sum()
    assert abs(area - expected_area) <= 0.05 * expected_area


def test_shapes_differ_at_the_default_size() -> None:
    masks = {
        shape: red_mask(render(one_object(shape=shape))[0]) for shape in ("circle", "square", "triangle")
    }
    assert not np.array_equal(masks["circle"], masks["square"])
    assert masks["triangle"].sum() < masks["square"].sum()
    rows = np.nonzero(masks["triangle"].any(axis=1))[0]  # apex on top: the top row is the narrowest
    assert masks["triangle"][rows[0]].sum() < masks["triangle"][rows[-1]].sum()


@pytest.mark.parametrize(
    ("motion", "dx", "dy"),
    [("right", 9.6, 0.0), ("left", -9.6, 0.0), ("up", 0.0, -9.6), ("down", 0.0, 9.6), ("still", 0.0, 0.0)],
)
def test_objects_move_as_stated(motion: str, dx: float, dy: float) -> None:
    start = {"right": (0.3, 0.5), "left": (0.7, 0.5), "up": (0.5, 0.7), "down": (0.5, 0.3)}.get(
        motion, (0.5, 0.5)
    )
    frames = render(one_object(motion=motion, x0=start[0], y0=start[1]))
    mask = red_mask(frames)
    (x_first, y_first), (x_last, y_last) = centroid(mask[0]), centroid(mask[-1])
    assert x_last - x_first == pytest.approx(dx, abs=1.0)
    assert y_last - y_first == pytest.approx(dy, abs=1.0)


def test_bouncing_goes_up_and_comes_back() -> None:
    frames = render(one_object(motion="bouncing", y0=0.7), n_frames=9)
    heights = [centroid(red_mask(frame))[1] for frame in frames]
    # τ = k/8: |sin(2πτ)| peaks at k = 2 and 6 (0.25*32 = 8 px up) and is 0 at k = 0, 4, 8.
    assert heights[0] - heights[2] == pytest.approx(8.0, abs=1.0)
    assert heights[4] == pytest.approx(heights[0], abs=0.6)
    assert heights[0] - heights[6] == pytest.approx(8.0, abs=1.0)


def test_camera_pan_and_zoom() -> None:
    # A still object filmed by a camera panning left drifts right across the frame by the pan distance.
    pan = red_mask(render(one_object(camera="pan left")))
    assert centroid(pan[-1])[0] - centroid(pan[0])[0] == pytest.approx(8.0, abs=1.0)
    # Zooming in to 70% of the view makes the object's area grow by 1 / 0.7^2 = 2.04.
    zoom = red_mask(render(one_object(camera="zoom in", size="small"), size=96))
    assert zoom[-1].sum() / zoom[0].sum() == pytest.approx(1 / 0.7**2, rel=0.05)
    zoom_out = red_mask(render(one_object(camera="zoom out"), size=96))
    assert zoom_out[-1].sum() / zoom_out[0].sum() == pytest.approx(0.7**2, rel=0.05)


def test_static_camera_keeps_the_background_fixed_and_pans_move_it() -> None:
    static = render(one_object(camera="static", background="striped"))
    assert np.array_equal(static[0], static[-1])
    panned = render(one_object(camera="pan right", background="striped"))
    assert not np.array_equal(panned[0], panned[-1])


def test_backgrounds_look_different() -> None:
    def grey(background: str) -> np.ndarray:
        frames = render(one_object(background=background, x0=2.0))  # object far out of view
        return frames[0, :, :, 0].astype(float)

    assert grey("black").mean() == pytest.approx(22, abs=3)
    assert grey("gray").mean() == pytest.approx(128, abs=3)
    striped = grey("striped")  # vertical stripes: columns vary far more than rows
    assert striped.mean(axis=0).std() > 5 * striped.mean(axis=1).std()
    checkered = grey("checkered")
    assert checkered.mean(axis=0).std() < 20 and checkered.std() > 30


def test_every_object_is_visible_in_the_first_frame() -> None:
    for clip in make_clips("test", 40, seed=2):
        for obj in clip.facts.objects:
            colour = np.array(COLOURS[obj.colour], dtype=np.uint8)
            assert np.all(clip.frames[0] == colour, axis=-1).sum() > 0, (clip.clip_id, obj)
