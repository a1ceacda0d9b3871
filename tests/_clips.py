"""Hand-described clips of the embedded world, shared by the judge and adapter tests."""

from __future__ import annotations

from synpo_bench.api.facts import ClipFacts, ObjectFacts

# Clip A: a large red circle moving left (the main object), a small blue square bouncing, a striped
# background, the camera panning right. Facts per dimension: short 2 x 3 = 6, detailed 2 x 4 + 2 = 10,
# main_object 4, background 1, camera 1.
CLIP_A = ClipFacts(
    "test-00000",
    (
        ObjectFacts("circle", "red", "large", "left", 0.5, 0.5),
        ObjectFacts("square", "blue", "small", "bouncing", 0.3, 0.3),
    ),
    "striped",
    "pan right",
    texture_seed=1,
)
