"""The embedded world's vocabulary: the surface forms the reference writers choose among.

Every word here is one the exact-fact judge knows, so a reference built from these tables is always a
perfect caption for the facts it states; the tables' order and repetitions (a word listed twice is
chosen twice as often) are part of the seeded paraphrase draws and must not change.
"""

from __future__ import annotations

SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "circle", "disc", "ball"),
    "square": ("square", "square", "box", "block"),
    "triangle": ("triangle", "triangle", "triangular shape"),
}
COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red",),
    "green": ("green",),
    "blue": ("blue",),
    "yellow": ("yellow",),
    "purple": ("purple", "purple", "violet"),
    "orange": ("orange",),
}
SIZE_WORDS: dict[str, tuple[str, ...]] = {"small": ("small", "little", "tiny"), "large": ("large", "big")}

# Finite verb phrases ("a red circle <verb phrase>") and participles ("a red circle <participle>",
# "<participle> is a red circle").
MOTION_VERBS: dict[str, tuple[str, ...]] = {
    "left": (
        "moves to the left",
        "moves left",
        "slides left",
        "drifts to the left",
        "travels leftward",
        "heads left",
    ),
    "right": (
        "moves to the right",
        "moves right",
        "slides right",
        "drifts to the right",
        "travels rightward",
        "heads right",
    ),
    "up": ("moves up", "rises", "drifts upward", "floats up", "moves upward", "climbs upward"),
    "down": ("moves down", "falls", "sinks", "drifts downward", "drops down", "moves downward"),
    "still": (
        "stays still",
        "does not move",
        "remains motionless",
        "stays in place",
        "stands still",
        "is stationary",
    ),
    "bouncing": ("bounces", "bounces up and down", "keeps bouncing", "hops up and down"),
}
MOTION_PARTICIPLES: dict[str, tuple[str, ...]] = {
    "left": ("moving left", "moving to the left", "sliding left", "drifting leftward"),
    "right": ("moving right", "moving to the right", "sliding right", "drifting rightward"),
    "up": ("moving up", "rising", "floating upward", "climbing upward"),
    "down": ("moving down", "falling", "sinking", "dropping down"),
    "still": ("staying still", "not moving", "standing still", "sitting motionless"),
    "bouncing": ("bouncing", "bouncing up and down", "hopping up and down"),
}
BACKGROUND_PHRASES: dict[str, tuple[str, ...]] = {
    "black": ("a black background", "a dark background", "a plain black backdrop"),
    "gray": ("a gray background", "a grey background", "a plain gray backdrop"),
    "striped": ("a striped background", "a background of vertical stripes", "a stripy backdrop"),
    "checkered": ("a checkered background", "a checkerboard background", "a checkerboard pattern"),
    "dotted": ("a dotted background", "a background covered in dots", "a polka dot backdrop"),
}
BACKGROUND_ADJECTIVES: dict[str, tuple[str, ...]] = {
    "black": ("black", "dark"),
    "gray": ("gray", "grey"),
    "striped": ("striped", "stripy"),
    "checkered": ("checkered", "chequered"),
    "dotted": ("dotted", "spotted"),
}
CAMERA_SENTENCES: dict[str, tuple[str, ...]] = {
    "static": (
        "the camera is static",
        "the camera stays still",
        "the camera does not move",
        "the camera holds steady",
        "the view stays fixed",
    ),
    "pan left": (
        "the camera pans to the left",
        "the camera pans left",
        "the view pans leftward",
        "the camera slowly pans left",
        "the camera moves to the left",
    ),
    "pan right": (
        "the camera pans to the right",
        "the camera pans right",
        "the view pans rightward",
        "the camera slowly pans right",
        "the camera moves to the right",
    ),
    "zoom in": (
        "the camera zooms in",
        "the view zooms in",
        "the camera slowly zooms in",
        "the camera pushes in",
    ),
    "zoom out": (
        "the camera zooms out",
        "the view zooms out",
        "the camera slowly zooms out",
        "the camera pulls back",
    ),
}
CAMERA_NOUN_PHRASES: dict[str, tuple[str, ...]] = {
    "static": ("a static camera", "a fixed camera", "a steady camera"),
    "pan left": ("a camera panning left", "a camera panning to the left"),
    "pan right": ("a camera panning right", "a camera panning to the right"),
    "zoom in": ("a camera zooming in", "a slow zoom in"),
    "zoom out": ("a camera zooming out", "a slow zoom out"),
}
