"""The embedded synthetic video world: seeded, procedurally rendered clips whose every fact is known.

A clip shows 1-3 coloured shapes moving over a textured background, filmed by a camera that may pan or
zoom. Frames are rendered with numpy from the facts (nothing is mocked), so a model can learn to read
shape, colour, size and motion off the pixels, and the exact-fact judge can grade captions against the
facts.

Rendering: every output pixel is mapped to world coordinates through the camera of its frame
(``world = centre(t) + (pixel - size/2) * scale(t)``), and the background pattern and the objects are
evaluated at those world coordinates, all frames and pixels at once. The background carries a fine
world-fixed grain, so camera motion is visible even over a plain colour.

Rules that make each caption dimension learnable:
- colours are distinct within a clip (a colour names one object);
- a clip with several objects has exactly one large object, the main object, listed first
  (``ClipFacts.objects[0]``), so "the main object" is always the visibly biggest one; a lone object is
  small or large at random;
- every object stays (at least half) in view in every frame whatever the camera does.

Splits: ``train``, ``val`` and ``test`` draw from separate random streams (``SeedSequence([seed,
split, index])``) and carry split-prefixed ids (``train-00012``), so they never share a clip; clip ``i``
of a split does not depend on how many clips are asked for. World sizes (``WORLD_SIZES``): ``tiny``
(24 train / 8 val / 8 test clips, for tests) and ``default`` (512 train / 64 val / 256 test).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from synpo_bench.api.facts import ClipFacts, ObjectFacts

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "green": (40, 190, 60),
    "blue": (45, 85, 235),
    "yellow": (240, 220, 40),
    "purple": (150, 55, 205),
    "orange": (245, 140, 20),
}
OBJECT_SIZES: tuple[str, ...] = ("small", "large")
MOTIONS: tuple[str, ...] = ("left", "right", "up", "down", "still", "bouncing")
BACKGROUNDS: tuple[str, ...] = ("black", "gray", "striped", "checkered", "dotted")
CAMERA_MOTIONS: tuple[str, ...] = ("static", "pan left", "pan right", "zoom in", "zoom out")

SPLITS: dict[str, int] = {"train": 1, "val": 2, "test": 3}
WORLD_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"train": 24, "val": 8, "test": 8},
    "default": {"train": 512, "val": 64, "test": 256},
}
DEFAULT_FRAMES = 8
DEFAULT_FRAME_SIZE = 32

# Geometry, as fractions of the frame size: object radii, how far things travel over a clip.
RADIUS = {"small": 0.11, "large": 0.2}
TRAVEL = 0.3
BOUNCE_HEIGHT = 0.25
PAN_TRAVEL = 0.25
ZOOM_FACTOR = 0.7  # zoom in shrinks the visible world to 70% over the clip; zoom out grows it by 1/0.7


@dataclass(frozen=True, eq=False)
class Clip:
    """A rendered clip: id, facts, and uint8 frames ``[n_frames, size, size, 3]`` (read-only)."""

    clip_id: str
    facts: ClipFacts
    frames: np.ndarray


# ---------------------------------------------------------------------------------------------- facts


def clip_id(split: str, index: int) -> str:
    return f"{split}-{index:05d}"


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; valid splits: {', '.join(SPLITS)}")


def _clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, SPLITS[split], index]))


def sample_facts(split: str, index: int, seed: int) -> ClipFacts:
    """The facts of clip ``index`` of ``split``; a pure function of its arguments."""
    _check_split(split)
    rng = _clip_rng(seed, split, index)
    n_objects = int(rng.integers(1, 4))
    colours = rng.choice(len(COLOURS), size=n_objects, replace=False)
    shapes = rng.integers(0, len(SHAPES), size=n_objects)
    motions = rng.integers(0, len(MOTIONS), size=n_objects)
    sizes = (
        [OBJECT_SIZES[int(rng.integers(0, 2))]] if n_objects == 1 else ["large"] + ["small"] * (n_objects - 1)
    )
    background = BACKGROUNDS[int(rng.integers(0, len(BACKGROUNDS)))]
    camera = CAMERA_MOTIONS[int(rng.integers(0, len(CAMERA_MOTIONS)))]
    colour_names = list(COLOURS)
    placed: list[ObjectFacts] = []
    for number in range(n_objects):
        motion = MOTIONS[int(motions[number])]
        x0, y0 = _place(rng, sizes[number], motion, camera, placed)
        placed.append(
            ObjectFacts(
                shape=SHAPES[int(shapes[number])],
                colour=colour_names[int(colours[number])],
                size=sizes[number],
                motion=motion,
                x0=x0,
                y0=y0,
            )
        )
    return ClipFacts(
        clip_id=clip_id(split, index),
        objects=tuple(placed),
        background=background,
        camera=camera,
        texture_seed=int(rng.integers(0, 2**31 - 1)),
    )


# ------------------------------------------------------------------------------------------- geometry

# Normalised time of each frame is τ in [0, 1]; geometry is evaluated on a fine τ grid when placing
# objects so placement does not depend on the frame count.
_PLACEMENT_TAU = np.linspace(0.0, 1.0, 33)
_PLACEMENT_TRIES = 24


def camera_path(camera: str, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera centre (x, y) and scale (world units per pixel, as fractions of the frame) at times τ."""
    centre_x = np.full_like(tau, 0.5)
    centre_y = np.full_like(tau, 0.5)
    scale = np.ones_like(tau)
    if camera == "pan left":
        centre_x = 0.5 - PAN_TRAVEL * tau
    elif camera == "pan right":
        centre_x = 0.5 + PAN_TRAVEL * tau
    elif camera == "zoom in":
        scale = 1.0 - (1.0 - ZOOM_FACTOR) * tau
    elif camera == "zoom out":
        scale = 1.0 + (1.0 / ZOOM_FACTOR - 1.0) * tau
    elif camera != "static":
        raise ValueError(f"unknown camera motion '{camera}'")
    return centre_x, centre_y, scale


def object_offset(motion: str, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Displacement (dx, dy) from the start position at times τ, as fractions of the frame."""
    zero = np.zeros_like(tau)
    if motion == "left":
        return -TRAVEL * tau, zero
    if motion == "right":
        return TRAVEL * tau, zero
    if motion == "up":
        return zero, -TRAVEL * tau
    if motion == "down":
        return zero, TRAVEL * tau
    if motion == "bouncing":  # two hops: up and back down, twice
        return zero, -BOUNCE_HEIGHT * np.abs(np.sin(2.0 * np.pi * tau))
    if motion == "still":
        return zero, zero
    raise ValueError(f"unknown motion '{motion}'")


def _start_interval(
    offset: np.ndarray, view_low: np.ndarray, view_high: np.ndarray, margin: float
) -> tuple[float, float]:
    """Start positions that keep ``start + offset`` within ``[view_low + margin, view_high - margin]``."""
    return float(np.max(view_low + margin - offset)), float(np.min(view_high - margin - offset))


def _place(
    rng: np.random.Generator, size: str, motion: str, camera: str, placed: Sequence[ObjectFacts]
) -> tuple[float, float]:
    """A start position keeping the object in view all clip long, away from the objects already placed."""
    tau = _PLACEMENT_TAU
    centre_x, centre_y, scale = camera_path(camera, tau)
    dx, dy = object_offset(motion, tau)
    radius = RADIUS[size]
    bounds = []
    for offset, centre in ((dx, centre_x), (dy, centre_y)):
        low_view, high_view = centre - scale / 2, centre + scale / 2
        low, high = _start_interval(offset, low_view, high_view, radius)
        if low > high:  # does not fit whole: let up to half of it leave the frame
            low, high = _start_interval(offset, low_view, high_view, radius / 2)
        if low > high:  # still too tight: the best compromise is the middle
            low = high = (low + high) / 2
        bounds.append((low, high))
    (x_low, x_high), (y_low, y_high) = bounds
    candidates_x = rng.uniform(x_low, x_high, size=_PLACEMENT_TRIES)
    candidates_y = rng.uniform(y_low, y_high, size=_PLACEMENT_TRIES)
    if not placed:
        return float(candidates_x[0]), float(candidates_y[0])
    # Clearance: the closest any candidate comes to an earlier object over the clip, in units of the
    # distance at which the two would touch. The first candidate that never touches wins, else the best.
    clearance = np.full(_PLACEMENT_TRIES, np.inf)
    for other in placed:
        other_dx, other_dy = object_offset(other.motion, tau)
        gap_x = (candidates_x[:, None] + dx) - (other.x0 + other_dx)
        gap_y = (candidates_y[:, None] + dy) - (other.y0 + other_dy)
        touching = radius + RADIUS[other.size]
        clearance = np.minimum(clearance, np.hypot(gap_x, gap_y).min(axis=1) / touching)
    clear = np.flatnonzero(clearance >= 1.0)
    best = int(clear[0]) if clear.size else int(np.argmax(clearance))
    return float(candidates_x[best]), float(candidates_y[best])


# ------------------------------------------------------------------------------------------ rendering

_BACKGROUND_LEVELS = {"black": 22.0, "gray": 128.0}
_GRAIN_AMPLITUDE = 12


def _background(
    name: str, world_x: np.ndarray, world_y: np.ndarray, texture_seed: int, size: int
) -> np.ndarray:
    """Grey levels of the background at world coordinates (in pixels of the unmoved camera)."""
    cell = size / 4.0  # pattern period: four stripes / checks / dots across the frame
    if name in _BACKGROUND_LEVELS:
        level = np.full(np.broadcast_shapes(world_x.shape, world_y.shape), _BACKGROUND_LEVELS[name])
    elif name == "striped":
        stripes = np.where(np.floor(world_x / (cell / 2)) % 2 == 0, 45.0, 105.0)
        level = np.broadcast_to(stripes, np.broadcast_shapes(world_x.shape, world_y.shape))
    elif name == "checkered":
        level = np.where((np.floor(world_x / cell) + np.floor(world_y / cell)) % 2 == 0, 55.0, 150.0)
    elif name == "dotted":
        near_x = world_x - cell * (np.floor(world_x / cell) + 0.5)
        near_y = world_y - cell * (np.floor(world_y / cell) + 0.5)
        level = np.where(near_x**2 + near_y**2 <= (0.22 * cell) ** 2, 175.0, 35.0)
    else:
        raise ValueError(f"unknown background '{name}'")
    return level + _grain(world_x, world_y, texture_seed)


def _grain(world_x: np.ndarray, world_y: np.ndarray, texture_seed: int) -> np.ndarray:
    """World-fixed pseudo-random texture on 2-pixel cells: it moves with the world, so pans and zooms show."""
    cell_x = np.floor(world_x / 2.0).astype(np.int64)
    cell_y = np.floor(world_y / 2.0).astype(np.int64)
    hashed = (cell_x * 73856093) ^ (cell_y * 19349663) ^ texture_seed
    hashed = (hashed ^ (hashed >> 13)) * 1274126177
    return ((hashed >> 7) % (2 * _GRAIN_AMPLITUDE + 1) - _GRAIN_AMPLITUDE).astype(np.float64)


def _shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within the shape centred at the origin; dx, dy are pixel offsets in world units."""
    if shape == "circle":
        return dx**2 + dy**2 <= radius**2
    if shape == "square":  # half-side 0.85 r: about the area of the circle
        return (np.abs(dx) <= 0.85 * radius) & (np.abs(dy) <= 0.85 * radius)
    if shape == "triangle":  # apex up at -r, base at +0.8 r, half-width r at the base
        return (dy >= -radius) & (dy <= 0.8 * radius) & (np.abs(dx) <= (dy + radius) / 1.8)
    raise ValueError(f"unknown shape '{shape}'")


def render(facts: ClipFacts, n_frames: int = DEFAULT_FRAMES, size: int = DEFAULT_FRAME_SIZE) -> np.ndarray:
    """Draw the clip: uint8 ``[n_frames, size, size, 3]``."""
    if n_frames < 2 or size < 8:
        raise ValueError(f"need at least 2 frames of 8x8 pixels, got {n_frames} frames of {size}x{size}")
    tau = np.linspace(0.0, 1.0, n_frames)
    centre_x, centre_y, scale = camera_path(facts.camera, tau)  # scale: world pixels per output pixel
    centre_x, centre_y = centre_x * size, centre_y * size
    pixel = np.arange(size) + 0.5 - size / 2
    world_x = centre_x[:, None, None] + pixel[None, None, :] * scale[:, None, None]  # [T, 1, S]
    world_y = centre_y[:, None, None] + pixel[None, :, None] * scale[:, None, None]  # [T, S, 1]
    grey = np.clip(_background(facts.background, world_x, world_y, facts.texture_seed, size), 0, 255)
    frames = np.repeat(grey.astype(np.uint8)[..., None], 3, axis=-1)
    # Large objects first, so a small object passing in front of the main one stays visible.
    for obj in sorted(facts.objects, key=lambda o: o.size != "large"):
        dx, dy = object_offset(obj.motion, tau)
        centre_obj_x = (obj.x0 + dx) * size
        centre_obj_y = (obj.y0 + dy) * size
        mask = _shape_mask(
            obj.shape,
            world_x - centre_obj_x[:, None, None],
            world_y - centre_obj_y[:, None, None],
            RADIUS[obj.size] * size,
        )
        frames[mask] = COLOURS[obj.colour]
    frames.flags.writeable = False
    return frames


# ------------------------------------------------------------------------------------------- clip sets


def make_clips(
    split: str,
    n: int,
    seed: int = 0,
    *,
    n_frames: int = DEFAULT_FRAMES,
    size: int = DEFAULT_FRAME_SIZE,
    start: int = 0,
) -> list[Clip]:
    """Clips ``start .. start+n-1`` of ``split``, rendered; deterministic for (split, index, seed)."""
    _check_split(split)
    clips = []
    for index in range(start, start + n):
        facts = sample_facts(split, index, seed)
        clips.append(Clip(facts.clip_id, facts, render(facts, n_frames, size)))
    return clips


def world_size(size: str) -> dict[str, int]:
    """Clip counts per split for a world size name ("tiny" or "default")."""
    if size not in WORLD_SIZES:
        raise ValueError(f"unknown world size '{size}'; valid sizes: {', '.join(WORLD_SIZES)}")
    return WORLD_SIZES[size]


@lru_cache(maxsize=4)
def world_clips(
    seed: int, size: str, n_frames: int = DEFAULT_FRAMES, frame_size: int = DEFAULT_FRAME_SIZE
) -> tuple[tuple[Clip, ...], tuple[Clip, ...]]:
    """(train, test) clips of the embedded world; cached because vatex, vdc and vdd share them."""
    counts = world_size(size)
    train = make_clips("train", counts["train"], seed, n_frames=n_frames, size=frame_size)
    test = make_clips("test", counts["test"], seed, n_frames=n_frames, size=frame_size)
    return tuple(train), tuple(test)
