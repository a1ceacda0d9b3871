"""Ground-truth facts of a clip: what the embedded world knows and the exact judge grades against.

They live at the ground because three rooms share them: the world writes them, task data carries them
(``TaskData.facts``) and every judge grades against them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectFacts:
    """One object: the graded facts (shape, colour, size, motion) and where it starts."""

    shape: str
    colour: str
    size: str
    motion: str
    x0: float
    """Start position in world coordinates, as a fraction of the frame size (0 left, 1 right)."""
    y0: float

    def describe(self) -> str:
        return f"{self.size} {self.colour} {self.shape} ({self.motion})"


@dataclass(frozen=True)
class ClipFacts:
    """Everything true about one clip; ``objects[0]`` is the main object."""

    clip_id: str
    objects: tuple[ObjectFacts, ...]
    background: str
    camera: str
    texture_seed: int
    """Seeds the background grain (and the choice of reference paraphrases)."""

    @property
    def main_object(self) -> ObjectFacts:
        return self.objects[0]
