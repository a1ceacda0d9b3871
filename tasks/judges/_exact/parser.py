"""The exact judge's parser: the facts a caption states, before comparing them with any clip.

Robust to word order and to every paraphrase the reference writer uses:
1. Tokens are lower-case words and punctuation; the lexicon (longest match first) turns words into facts
   (``lexicon``): shapes anchor an object mention, colour / size / motion words are attributes,
   backgrounds and zooms are global facts, "camera" / "view" / "shot" / "pans" anchor the camera. A word
   the lexicon does not know states nothing and is listed in ``ParsedCaption.unknown_words``.
2. Negation: a negator ("not", "no", "never", "neither", "nor", "without", "isn't", ...) negates the
   facts right after it ("a triangle that is not purple", "not to the left", "neither red nor blue"):
   after articles and "to" / "on" / "in", one fact, or one phrase of them ("no red triangle", "not pan
   left"), and every fact joined to it by "or" / "nor" ("not purple rises" negates only "purple"). A
   negated fact is never an assertion: it is neither credited nor false. It retracts the same value
   asserted of the same object ("a purple triangle that is not purple" states no colour). A negated
   shape ("there is no green triangle") states no object at all, nor the facts in its scope.
   "does not move" alone means still; followed by a direction ("does not move to the left") it negates
   that direction.
3. The caption is cut into segments at punctuation and at "and", "while", "as", "whereas", "but",
   "then", "meanwhile". Within a segment every attribute (asserted or negated) attaches to its nearest
   anchor, so attributes bind to the object they are said of. A segment without an anchor gives its
   attributes to the previous anchor (to the previous *object* when it holds "it" / "which" / "that"),
   or, before any anchor, to the next one.
4. Attributes on the camera become its motion: left/right -> pan, still words -> static, up/down ->
   "tilt" and bouncing -> "shake" (never true: the world has no such camera).
5. Mentions of one object are merged (same shape, no conflicting attribute: "a red circle ... the red
   circle moves left"). Values stay sets: "a red or blue circle" states the set {red, blue}, which the
   grader does not take for either colour. Matching mentions to a clip's objects is the grader's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from synpo_bench.tasks.judges._exact.lexicon import (
    ALTERNATIVE_WORDS,
    BOUNDARY_WORDS,
    KNOWN_WORDS,
    LEXICON,
    LONGEST_PHRASE,
    NEGATION_SKIPPED,
    NEGATORS,
    PRONOUNS,
    PUNCTUATION,
    tokenize,
)

# Rule 4: a motion attached to the camera is a camera motion ("tilt" and "shake" are never true).
CAMERA_FROM_MOTION = {
    "left": "pan left",
    "right": "pan right",
    "still": "static",
    "up": "tilt up",
    "down": "tilt down",
    "bouncing": "shake",
}
_ATTRIBUTES = ("colour", "size", "motion")


@dataclass
class Mention:
    """One object as the caption states it; attribute values are sets (a caption may state two)."""

    shape: str | None
    colours: set[str] = field(default_factory=set)
    sizes: set[str] = field(default_factory=set)
    motions: set[str] = field(default_factory=set)
    denied: set[tuple[str, str]] = field(default_factory=set)
    """(attribute, value) negated of this object (rule 2); removed from the values by ``settle``."""

    def values(self, attribute: str) -> set[str]:
        if attribute == "shape":
            return {self.shape} if self.shape else set()
        return {"colour": self.colours, "size": self.sizes, "motion": self.motions}[attribute]

    def add(self, kind: str, value: str, negated: bool = False) -> None:
        if negated:
            self.denied.add((kind, value))
        else:
            self.values(kind).add(value)

    def conflicts_with(self, other: Mention) -> bool:
        if self.shape != other.shape:
            return True
        return any(
            self.values(a) and other.values(a) and not self.values(a) & other.values(a) for a in _ATTRIBUTES
        )

    def absorb(self, other: Mention) -> None:
        for attribute in _ATTRIBUTES:
            self.values(attribute).update(other.values(attribute))
        self.denied |= other.denied

    def settle(self) -> None:
        """Drop every value the caption also negates of this object (rule 2)."""
        for attribute, value in self.denied:
            self.values(attribute).discard(value)

    def claims(self) -> set[tuple[str, ...]]:
        base = self.shape or "?"
        return {("object", base, "shape")} | {
            ("object", base, attribute, value)
            for attribute in _ATTRIBUTES
            for value in self.values(attribute)
        }


@dataclass(eq=False)
class _CameraGroup:
    motions: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)

    def add(self, kind: str, value: str, negated: bool = False) -> None:
        if kind == "motion":
            (self.denied if negated else self.motions).add(value)


@dataclass(frozen=True)
class _Item:
    kind: str  # a lexicon kind, or "boundary", "pronoun", "negator", "word", "unknown"
    value: str
    position: int
    negated: bool = False
    negative_phrase: bool = False  # a still phrase built on a negator ("does not move")


@dataclass
class ParsedCaption:
    """The facts a caption states (negated ones removed), before comparing them with any clip."""

    mentions: list[Mention]
    backgrounds: set[str]
    cameras: set[str]
    tokens: list[str]
    unknown_tokens: int
    unknown_words: list[str] = field(default_factory=list)
    """The words and symbols the lexicon does not know, in order (they state nothing)."""

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
            phrase = tuple(tokens[index : index + length])
            entry = LEXICON.get(phrase)
            if entry is not None:
                negative = length > 1 and bool(NEGATORS.intersection(phrase))
                items.append(_Item(entry[0], entry[1], len(items), negative_phrase=negative))
                index += length
                break
        else:
            items.append(_Item(_word_kind(tokens[index]), tokens[index], len(items)))
            index += 1
    return items


def _word_kind(token: str) -> str:
    if token in PUNCTUATION or token in BOUNDARY_WORDS:
        return "boundary"
    if token in PRONOUNS:
        return "pronoun"
    if token in NEGATORS:
        return "negator"
    return "word" if token in KNOWN_WORDS else "unknown"


_FACT_KINDS = frozenset({"shape", "colour", "size", "motion", "background", "camera", "camera_anchor"})
_ATTRIBUTE_KINDS = frozenset({"colour", "size", "motion"})


def _next_fact(items: Sequence[_Item], start: int) -> int:
    """Index of the first item from ``start`` that is not a word a negated scope skips."""
    index = start
    while index < len(items) and items[index].kind == "word" and items[index].value in NEGATION_SKIPPED:
        index += 1
    return index


# Fact words that run on into the next one as one phrase ("no red triangle", "not pan left"), so a
# negation covers both; "not purple rises" negates only "purple".
_RUNS_ON = {"colour": {"colour", "size", "shape"}, "size": {"colour", "size", "shape"}}
_RUNS_ON |= {
    "camera_anchor": {"motion"},
    "shape": set(),
    "motion": set(),
    "background": set(),
    "camera": set(),
}


def _scope(items: Sequence[_Item], start: int) -> list[int]:
    """The fact items a negator just before ``start`` negates (rule 2)."""
    scope: list[int] = []
    index = _next_fact(items, start)
    while index < len(items) and items[index].kind in _FACT_KINDS:
        scope.append(index)
        after = index + 1
        if after < len(items) and (items[after].value in ALTERNATIVE_WORDS or items[after].kind == "negator"):
            index = _next_fact(items, after + 1)
        elif after < len(items) and items[after].kind in _RUNS_ON[items[index].kind]:
            index = after
        else:
            break
    return scope


def _negate(items: Sequence[_Item]) -> list[_Item]:
    """Mark negated facts; a negated scope naming a shape states nothing at all (rule 2)."""
    result = list(items)
    index = 0
    while index < len(result):
        item = result[index]
        opens = item.kind == "negator"
        if item.negative_phrase and item.kind == "motion":
            following = _next_fact(result, index + 1)
            opens = following < len(result) and result[following].kind == "motion"
            opens = opens and result[following].value != "still"
        if not opens:
            index += 1
            continue
        if item.kind != "negator":
            result[index] = replace(item, kind="negator")
        scope = _scope(result, index + 1)
        void = any(result[i].kind == "shape" for i in scope)
        for i in scope:
            result[i] = replace(result[i], kind="word") if void else replace(result[i], negated=True)
        index = (scope[-1] if scope else index) + 1
    return result


def _segments(items: Sequence[_Item]) -> list[list[_Item]]:
    segments: list[list[_Item]] = [[]]
    for item in items:
        if item.kind == "boundary":
            segments.append([])
        else:
            segments[-1].append(item)
    return [segment for segment in segments if segment]


_Anchor = Mention | _CameraGroup


@dataclass
class _State:
    """What parsing has found so far."""

    mentions: list[Mention] = field(default_factory=list)
    camera_groups: list[_CameraGroup] = field(default_factory=list)
    facts: dict[tuple[str, bool], set[str]] = field(default_factory=dict)  # (kind, negated) -> values
    last_anchor: _Anchor | None = None
    last_object: Mention | None = None
    pending: list[_Item] = field(default_factory=list)

    def global_facts(self, kind: str, negated: bool) -> set[str]:
        return self.facts.setdefault((kind, negated), set())


def parse_caption(text: str) -> ParsedCaption:
    """Read the facts a caption states (see the module docstring for the rules)."""
    tokens = tokenize(text)
    items = _negate(_lex(tokens))
    state = _State()
    for segment in _segments(items):
        _read_segment(segment, state)
    cameras = state.global_facts("camera", False)
    denied_cameras = state.global_facts("camera", True)
    for group in state.camera_groups:
        cameras |= {CAMERA_FROM_MOTION[motion] for motion in group.motions}
        denied_cameras |= {CAMERA_FROM_MOTION[motion] for motion in group.denied}
    mentions = _merge(state.mentions)
    for mention in mentions:
        mention.settle()
    backgrounds = state.global_facts("background", False) - state.global_facts("background", True)
    unknown = [item.value for item in items if item.kind == "unknown"]
    return ParsedCaption(mentions, backgrounds, cameras - denied_cameras, tokens, len(unknown), unknown)


def _read_segment(segment: Sequence[_Item], state: _State) -> None:
    for item in segment:
        if item.kind in ("background", "camera"):
            state.global_facts(item.kind, item.negated).add(item.value)
    attributes = [item for item in segment if item.kind in _ATTRIBUTE_KINDS]
    anchored = _anchor_segment(segment)
    if not anchored:
        has_pronoun = any(item.kind == "pronoun" for item in segment)
        target = state.last_object if has_pronoun and state.last_object is not None else state.last_anchor
        if target is None:
            state.pending += attributes
        else:
            for item in attributes:
                target.add(item.kind, item.value, item.negated)
        return
    for anchor in anchored.values():
        if isinstance(anchor, Mention):
            state.mentions.append(anchor)
        elif all(anchor is not group for group in state.camera_groups):
            state.camera_groups.append(anchor)
    first_anchor = anchored[min(anchored)]
    for item in state.pending:
        first_anchor.add(item.kind, item.value, item.negated)
    state.pending = []
    for item in attributes:
        nearest = min(
            anchored, key=lambda position: (abs(position - item.position), position > item.position)
        )
        anchored[nearest].add(item.kind, item.value, item.negated)
    state.last_anchor = anchored[max(anchored)]
    objects_here = [anchor for _, anchor in sorted(anchored.items()) if isinstance(anchor, Mention)]
    if objects_here:
        state.last_object = objects_here[-1]


def _anchor_segment(segment: Sequence[_Item]) -> dict[int, _Anchor]:
    """Position -> anchor for one segment: a new mention per asserted shape word, one camera group for
    the rest (a negated anchor anchors nothing)."""
    anchors: dict[int, _Anchor] = {}
    camera: _CameraGroup | None = None
    for item in segment:
        if item.negated:
            continue
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
