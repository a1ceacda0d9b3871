"""Texts and random clips the model tests share."""

from __future__ import annotations

import numpy as np

CAPTIONS = [
    "A red circle moves to the left.",
    "The camera pans right while a blue square stays still.",
    "A small green triangle bounces on a striped background.",
    "The camera zooms in. A large yellow box falls.",
    "There is a purple ball moving up and an orange square moving down.",
]
PROMPTS = ["describe the video briefly.", "describe the camera motion in the video.", "describe."]
FRAME_SHAPE = (8, 32, 32, 3)


def random_clips(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, FRAME_SHAPE, dtype=np.uint8) for _ in range(n)]
