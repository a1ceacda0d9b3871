"""The exact judge's parser: the facts a caption states, before comparing them with any clip.

Robust to word order and to every paraphrase the reference writer uses:
1. Tokens are lower-case words and punctuation; the lexicon (longest match first) turns words into facts
   (``lexicon``): shapes anchor an object mention, colour / size / motion words are attributes,
   backgrounds and zooms are global facts, "camera" / "view" / "shot" / "pans" anchor the camera.
2. The caption is cut into segments at punctuation and at "and", "while", "as", "whereas", "but",
   "then", "meanwhile". Within a segment every attribute attaches to its nearest anchor. A segment
   without an anchor gives its attributes to the previous anchor (to the previous *object* when it
   holds "it" / "which" / "that"), or, before any anchor, to the next one.
3. Attributes on the camera become its motion: left/right -> pan, still words -> static, up/down ->
   "tilt" and bouncing -> "shake" (never true: the world has no such camera).
4. Mentions of one object are merged (same shape, no conflicting attribute: "a red circle ... the red
   circle moves left"); matching them to a clip's objects is the grader's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from synpo_bench.tasks.judges._exact.lexicon import (
    BOUNDARY_WORDS,
    KNOWN_WORDS,
    LEXICON,
    LONGEST_PHRASE,
    PRONOUNS,
    PUNCTUATION,
    tokenize,
)

# Rule 3: a motion attached to the camera is a camera motion ("tilt" and "shake" are never true).
CAMERA_FROM_MOTION = {
    "left": "pan left",
    "right": "pan right",
    "still": "static",
    "up": "tilt up",
    "down": "tilt down",
    "bouncing": "shake",
}


@dataclass
class Mention:
    """One object as the caption states it; attribute values are sets (a caption may state two)."""

    shape: str | None
    colours: set[str] = field(default_factory=set)
    sizes: set[str] = field(default_factory=set)
    motions: set[str] = field(default_factory=set)

    def values(self, attribute: str) -> set[str]:
        if attribute == "shape":
            return {self.shape} if self.shape else set()
        return {"colour": self.colours, "size": self.sizes, "motion": self.motions}[attribute]

    def add(self, kind: str, value: str) -> None:
        {"colour": self.colours, "size": self.sizes, "motion": self.motions}[kind].add(value)

    def conflicts_with(self, other: Mention) -> bool:
        if self.shape != other.shape:
            return True
        return any(
            self.values(a) and other.values(a) and not self.values(a) & other.values(a)
            for a in ("colour", "size", "motion")
        )

    def absorb(self, other: Mention) -> None:
        for attribute in ("colour", "size", "motion"):
            self.values(attribute).update(other.values(attribute))

    def claims(self) -> set[tuple[str, ...]]:
        base = self.shape or "?"
        return {("object", base, "shape")} | {
            ("object", base, attribute, value)
            for attribute in ("colour", "size", "motion")
            for value in self.values(attribute)
        }


@dataclass(eq=False)
class _CameraGroup:
    motions: set[str] = field(default_factory=set)

    def add(self, kind: str, value: str) -> None:
        if kind == "motion":
            self.motions.add(value)


@dataclass(frozen=True)
class _Item:
    kind: str  # a lexicon kind, or "boundary", "pronoun", "word", "unknown"
    value: str
    position: int


@dataclass
class ParsedCaption:
    """The facts a caption states, before comparing them with any clip."""

    mentions: list[Mention]
    backgrounds: set[str]
    cameras: set[str]
    tokens: list[str]
    unknown_tokens: int

    def claims(self) -> set[tuple[str, ...]]:
        claims: set[tuple[str, ...]] = {("background", b) for b in self.backgrounds}
        claims |= {("camera", c) for c in self.cameras}
        for mention in self.mentions:
            claims |= mention.claims()
        return claims


def _lex(tokens: Sequence[str]) -> list[_Item]:
    items: list[_Item] = []
    index = 0
    while index < len(tokens):
        for length in range(min(LONGEST_PHRASE, len(tokens) - index), 0, -1):
            entry = LEXICON.get(tuple(tokens[index : index + length]))
            if entry is not None:
                items.append(_Item(entry[0], entry[1], len(items)))
                index += length
                break
        else:
            token = tokens[index]
            if token in PUNCTUATION or token in BOUNDARY_WORDS:
                kind = "boundary"
            elif token in PRONOUNS:
                kind = "pronoun"
            elif token in KNOWN_WORDS:
                kind = "word"
            else:
                kind = "unknown"
            items.append(_Item(kind, token, len(items)))
            index += 1
    return items


def _segments(items: Sequence[_Item]) -> list[list[_Item]]:
    segments: list[list[_Item]] = [[]]
    for item in items:
        if item.kind == "boundary":
            segments.append([])
        else:
            segments[-1].append(item)
    return [segment for segment in segments if segment]


_ATTRIBUTE_KINDS = frozenset({"colour", "size", "motion"})
_Anchor = Mention | _CameraGroup


def parse_caption(text: str) -> ParsedCaption:
    """Read the facts a caption states (see the module docstring for the rules)."""
    tokens = tokenize(text)
    items = _lex(tokens)
    mentions: list[Mention] = []
    cameras_groups: list[_CameraGroup] = []
    backgrounds: set[str] = set()
    cameras: set[str] = set()
    last_anchor: _Anchor | None = None
    last_object: Mention | None = None
    pending: list[_Item] = []
    for segment in _segments(items):
        backgrounds |= {item.value for item in segment if item.kind == "background"}
        cameras |= {item.value for item in segment if item.kind == "camera"}
        attributes = [item for item in segment if item.kind in _ATTRIBUTE_KINDS]
        anchored = _anchor_segment(segment)
        if not anchored:
            has_pronoun = any(item.kind == "pronoun" for item in segment)
            target = last_object if has_pronoun and last_object is not None else last_anchor
            if target is None:
                pending += attributes
            else:
                for item in attributes:
                    target.add(item.kind, item.value)
            continue
        for anchor in anchored.values():
            if isinstance(anchor, Mention):
                mentions.append(anchor)
            elif all(anchor is not group for group in cameras_groups):
                cameras_groups.append(anchor)
        first_anchor = anchored[min(anchored)]
        for item in pending:
            first_anchor.add(item.kind, item.value)
        pending = []
        for item in attributes:
            nearest = min(
                anchored, key=lambda position: (abs(position - item.position), position > item.position)
            )
            anchored[nearest].add(item.kind, item.value)
        last_anchor = anchored[max(anchored)]
        objects_here = [anchored[p] for p in sorted(anchored) if isinstance(anchored[p], Mention)]
        if objects_here:
            last_object = objects_here[-1]  # type: ignore[assignment]
    for group in cameras_groups:
        cameras |= {CAMERA_FROM_MOTION[motion] for motion in group.motions}
    unknown = sum(item.kind == "unknown" for item in items)
    return ParsedCaption(_merge(mentions), backgrounds, cameras, tokens, unknown)


def _anchor_segment(segment: Sequence[_Item]) -> dict[int, _Anchor]:
    """Position -> anchor for one segment: a new mention per shape word, one camera group for the rest."""
    anchors: dict[int, _Anchor] = {}
    camera: _CameraGroup | None = None
    for item in segment:
        if item.kind == "shape":
            anchors[item.position] = Mention(item.value)
        elif item.kind == "camera_anchor":
            camera = camera or _CameraGroup()
            anchors[item.position] = camera
    return anchors


def _merge(mentions: Sequence[Mention]) -> list[Mention]:
    """Fold later mentions of the same object into the most recent compatible earlier one."""
    merged: list[Mention] = []
    for mention in mentions:
        for earlier in reversed(merged):
            if not earlier.conflicts_with(mention):
                earlier.absorb(mention)
                break
        else:
            merged.append(mention)
    return merged
