"""The exact-fact judge: grades a caption against a clip's known facts, and rates candidate captions.

Parsing (robust to word order and to every paraphrase the reference writer uses):
1. Tokens are lower-case words and punctuation; a phrase lexicon (longest match first) turns words into
   facts: shape nouns ("circle", "ball", "triangular shape") anchor an object mention; colour, size and
   motion words ("violet", "big", "drifts to the left", "up and down", "does not move") are attributes;
   background words ("stripes", "checkerboard", "polka dot") and zooms ("zooms in", "pulls back") are
   global facts; "camera" / "view" / "shot" / "pans" anchor the camera.
2. The caption is cut into segments at punctuation and at "and", "while", "as", "whereas", "but",
   "then", "meanwhile". Within a segment every attribute attaches to its nearest anchor. A segment
   without an anchor gives its attributes to the previous anchor (to the previous *object* when it
   holds "it" / "which" / "that"), or, before any anchor, to the next one.
3. Attributes on the camera become its motion: left/right -> pan, still words -> static, up/down ->
   "tilt" and bouncing -> "shake" (never true: the world has no such camera).
4. Mentions of one object are merged (same shape, no conflicting attribute: "a red circle ... the red
   circle moves left"), then matched to the clip's objects by the assignment that maximises agreement;
   a mention is only matched to an object it agrees with on more attributes than it contradicts.

Grading (``grade``), per caption dimension (``DIMENSION_FACTS``):
- expected facts: VATEX ``caption`` and VDC ``short``: each object's shape, colour, motion; VDC
  ``detailed`` and VDD ``description``: each object's shape, colour, size, motion + background + camera;
  ``main_object``: the main object's four facts; ``background`` / ``camera``: that one fact.
- ``correct``: expected facts the caption states rightly; ``missed``: expected facts not stated rightly
  (a wrong value is missed *and* hallucinated);
- ``hallucinated``: every stated fact, of any dimension, that is false of the clip: a wrong attribute of
  a matched object, every attribute (shape included) of a mention that matches no object, a wrong
  background, a wrong camera motion. Right facts outside the dimension are neither rewarded nor punished.
- ``score`` = 10 * correct / (correct + missed + hallucinated), in 0..10.

Rating (``rate``, the SynPO pipeline's judge scores for candidate captions of one clip):
- hallucination H = max(0, 5 - hallucinated facts)                           (0..5, higher is better)
- fluency F = 5 - immediate word repeats - repeated clauses - unknown tokens (words outside the closed
  vocabulary ``KNOWN_WORDS``, symbols) - truncation, clipped to 0..5; truncation costs 1 when the
  caption does not end in . ! or ?, 2 when it ends on a word that cannot end a sentence ("the", "and",
  "is", ...); an empty caption has F = 0.
- consistency C = 3 * the mean, over the *other* candidates, of the Jaccard overlap between the facts
  this candidate states and the facts the other states (0..3; 3 when it is the only candidate, 0 when
  it states nothing). Claims are compared as parsed ("circle is red", "camera pans left"), without
  the ground truth, so a candidate that leaves out what the others agree on, or adds what none of them
  says, loses consistency: this is where completeness enters the rating, as H only counts falsehoods.
- combined = 1.1 H + F + C (0..13.5; the pair threshold applies to it); score10 = combined / 13.5 * 10.

VDC-style summaries: ``fact_accuracy`` = 100 * correct / (correct + missed) (the share of the
dimension's facts the caption gets right, as VDCscore asks questions about the reference and ignores
extra claims), ``vdc_score`` = score / 2 (0..5; hallucinations do cost here).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from synpo_bench.api.facts import ClipFacts, ObjectFacts
from synpo_bench.api.judges import FactGrade, JudgeError, Rating
from synpo_bench.api.tasks import CaptionExample

# ------------------------------------------------------------------------------------------- lexicon


def _forms(kind: str, value: str, phrases: str) -> dict[tuple[str, ...], tuple[str, str]]:
    """``phrases`` separated by "|" -> (kind, value)."""
    return {tuple(phrase.split()): (kind, value) for phrase in phrases.split("|")}


_ZOOM = ("zoom", "zooms", "zooming", "zoomed")

LEXICON: dict[tuple[str, ...], tuple[str, str]] = {
    **_forms("shape", "circle", "circle|circles|disc|discs|disk|disks|ball|balls|round shape|round object"),
    **_forms("shape", "circle", "circular shape|circular object"),
    **_forms("shape", "square", "square|squares|box|boxes|block|blocks|square shape|square object|cube"),
    **_forms("shape", "triangle", "triangle|triangles|triangular shape|triangular object"),
    **_forms("colour", "red", "red|crimson"),
    **_forms("colour", "green", "green"),
    **_forms("colour", "blue", "blue"),
    **_forms("colour", "yellow", "yellow"),
    **_forms("colour", "purple", "purple|violet"),
    **_forms("colour", "orange", "orange"),
    **_forms("size", "small", "small|little|tiny|smaller"),
    **_forms("size", "large", "large|big|huge|larger|bigger"),
    **_forms("motion", "left", "left|leftward|leftwards"),
    **_forms("motion", "right", "right|rightward|rightwards"),
    **_forms("motion", "up", "up|upward|upwards|rises|rise|rising|climbs|climbing"),
    **_forms(
        "motion", "down", "down|downward|downwards|falls|fall|falling|sinks|sink|sinking|drops|dropping"
    ),
    **_forms("motion", "still", "still|stationary|motionless|static|fixed|steady|unmoving|in place|at rest"),
    **_forms("motion", "still", "does not move|doesnt move|did not move|not moving|never moves"),
    **_forms(
        "motion", "bouncing", "bounces|bounce|bouncing|bounced|up and down|hops|hop|hopping|jumps|jumping"
    ),
    **_forms("background", "black", "black|dark"),
    **_forms("background", "gray", "gray|grey"),
    **_forms("background", "striped", "striped|stripes|stripy|stripe"),
    **_forms("background", "checkered", "checkered|chequered|checkerboard|checks|checked"),
    **_forms("background", "dotted", "dotted|dots|dot|spotted|polka dot|polka dots"),
    **_forms("camera", "zoom in", "|".join(f"{verb} in" for verb in _ZOOM) + "|pushes in|push in|pushing in"),
    **_forms(
        "camera", "zoom out", "|".join(f"{verb} out" for verb in _ZOOM) + "|pulls back|pull back|pulls out"
    ),
    **_forms("camera_anchor", "camera", "camera|view|shot|viewpoint"),
    **_forms("camera_anchor", "pan", "pan|pans|panning|panned"),
}
_LONGEST_PHRASE = max(len(phrase) for phrase in LEXICON)

BOUNDARY_WORDS = frozenset({"and", "while", "as", "whereas", "but", "then", "meanwhile"})
PRONOUNS = frozenset({"it", "which", "that", "who", "they", "its"})


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


FUNCTION_WORDS = (
    _words(
        """
    a an the this these those there here is are was were be been being has have it its they them
    that which who what where when of on in to by with against behind across over into from at for
    through around near next beside about we you see sees seen can shows show showing shown video clip
    scene frame whole entire main subject object objects thing shape shapes most prominent everything
    happens fills set takes take place where contains contain filmed recorded background backdrop
    plain pattern vertical covered coloured colored colour color keeps keep keeps slowly quickly
    slow steadily gently throughout during start end nothing else appears appear stays stay remains remain
    visible simple moves move moving slides slide sliding drifts drift drifting travels travel
    traveling travelling heads head heading floats float floating stands standing sits sitting staying
    holds hold holding one another other also same time too very all just only not no never out back
    first
    """
    )
    | BOUNDARY_WORDS
    | PRONOUNS
)
KNOWN_WORDS = FUNCTION_WORDS | {word for phrase in LEXICON for word in phrase}
SENTENCE_END = frozenset({".", "!", "?"})
DANGLING_WORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "and",
        "while",
        "as",
        "is",
        "are",
        "of",
        "on",
        "in",
        "to",
        "by",
        "with",
        "that",
        "which",
        "against",
        "across",
        "over",
        "into",
        "from",
        "at",
        "there",
        "its",
        "it",
    }
)
_PUNCTUATION = frozenset(".,;:!?")
_TOKEN = re.compile(r"[a-z]+|[.,;:!?]|[^\sa-z.,;:!?]+")

OBJECT_ATTRIBUTES = ("shape", "colour", "size", "motion")
CAMERA_FROM_MOTION = {
    "left": "pan left",
    "right": "pan right",
    "still": "static",
    "up": "tilt up",
    "down": "tilt down",
    "bouncing": "shake",
}


@dataclass(frozen=True)
class DimensionSpec:
    """Which facts a caption of one dimension is expected to state."""

    objects: str  # "all", "main" or "none"
    attributes: tuple[str, ...]
    background: bool
    camera: bool


DIMENSION_FACTS: dict[str, DimensionSpec] = {
    "caption": DimensionSpec("all", ("shape", "colour", "motion"), False, False),
    "short": DimensionSpec("all", ("shape", "colour", "motion"), False, False),
    "detailed": DimensionSpec("all", OBJECT_ATTRIBUTES, True, True),
    "description": DimensionSpec("all", OBJECT_ATTRIBUTES, True, True),
    "background": DimensionSpec("none", (), True, False),
    "main_object": DimensionSpec("main", OBJECT_ATTRIBUTES, False, False),
    "camera": DimensionSpec("none", (), False, True),
}


# ------------------------------------------------------------------------------------------- results


# ------------------------------------------------------------------------------------------- parsing


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


def tokenize(text: str) -> list[str]:
    """Lower-case words and punctuation marks; apostrophes vanish ("doesn't" -> "doesnt"), hyphens split."""
    cleaned = text.lower().replace("'", "").replace("\u2019", "").replace("-", " ")
    return _TOKEN.findall(cleaned)


def _lex(tokens: Sequence[str]) -> list[_Item]:
    items: list[_Item] = []
    index = 0
    while index < len(tokens):
        for length in range(min(_LONGEST_PHRASE, len(tokens) - index), 0, -1):
            entry = LEXICON.get(tuple(tokens[index : index + length]))
            if entry is not None:
                items.append(_Item(entry[0], entry[1], len(items)))
                index += length
                break
        else:
            token = tokens[index]
            if token in _PUNCTUATION or token in BOUNDARY_WORDS:
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


# ------------------------------------------------------------------------------------------ matching


def _agreement(mention: Mention, obj: ObjectFacts) -> tuple[int, int]:
    agree = disagree = 0
    for attribute in OBJECT_ATTRIBUTES:
        stated = mention.values(attribute)
        truth = getattr(obj, attribute)
        agree += truth in stated
        disagree += len(stated - {truth})
    return agree, disagree


_MAX_MENTIONS_MATCHED = 8


def match_mentions(mentions: Sequence[Mention], objects: Sequence[ObjectFacts]) -> dict[int, int]:
    """Object index -> mention index, maximising total (agree - disagree) over eligible pairs.

    Ties go to the assignment that agrees on more colours (a colour names one object in a clip).
    Brute force over assignments: clips hold at most three objects. Mentions past the eighth stay
    unmatched (they can only add hallucinations).
    """
    candidates = list(range(min(len(mentions), _MAX_MENTIONS_MATCHED)))
    gain: dict[tuple[int, int], float] = {}
    for o, obj in enumerate(objects):
        for m in candidates:
            agree, disagree = _agreement(mentions[m], obj)
            if agree > disagree:
                gain[(o, m)] = agree - disagree + 0.1 * (obj.colour in mentions[m].colours)
    best: dict[int, int] = {}
    best_total = 0.0
    options = [[None, *[m for m in candidates if (o, m) in gain]] for o in range(len(objects))]
    for choice in itertools.product(*options):
        chosen = [m for m in choice if m is not None]
        if len(chosen) != len(set(chosen)):
            continue
        total = sum(gain[(o, m)] for o, m in enumerate(choice) if m is not None)
        if total > best_total:
            best_total = total
            best = {o: m for o, m in enumerate(choice) if m is not None}
    return best


# ------------------------------------------------------------------------------------------- grading


def dimension_spec(dimension: str) -> DimensionSpec:
    if dimension not in DIMENSION_FACTS:
        raise ValueError(f"unknown caption dimension '{dimension}'; valid: {', '.join(DIMENSION_FACTS)}")
    return DIMENSION_FACTS[dimension]


def _graded_objects(spec: DimensionSpec, facts: ClipFacts) -> list[int]:
    if spec.objects == "all":
        return list(range(len(facts.objects)))
    return [0] if spec.objects == "main" else []


def grade_parsed(parsed: ParsedCaption, facts: ClipFacts, dimension: str) -> FactGrade:
    spec = dimension_spec(dimension)
    assignment = match_mentions(parsed.mentions, facts.objects)
    correct = missed = 0
    for index in _graded_objects(spec, facts):
        mention = parsed.mentions[assignment[index]] if index in assignment else None
        for attribute in spec.attributes:
            right = mention is not None and getattr(facts.objects[index], attribute) in mention.values(
                attribute
            )
            correct += right
            missed += not right
    for wanted, stated, truth in (
        (spec.background, parsed.backgrounds, facts.background),
        (spec.camera, parsed.cameras, facts.camera),
    ):
        if wanted:
            correct += truth in stated
            missed += truth not in stated
    hallucinated = len(parsed.backgrounds - {facts.background}) + len(parsed.cameras - {facts.camera})
    matched = {m: o for o, m in assignment.items()}
    for m, mention in enumerate(parsed.mentions):
        if m in matched:
            hallucinated += _agreement(mention, facts.objects[matched[m]])[1]
        else:
            hallucinated += sum(len(mention.values(attribute)) for attribute in OBJECT_ATTRIBUTES)
    total = correct + missed + hallucinated
    return FactGrade(correct, missed, hallucinated, 10.0 * correct / total if total else 0.0)


def fluency(parsed: ParsedCaption) -> float:
    """F in 0..5 (see the module docstring)."""
    words = [token for token in parsed.tokens if token not in _PUNCTUATION]
    if not words:
        return 0.0
    repeats = sum(
        current == previous and current not in _PUNCTUATION
        for previous, current in itertools.pairwise(parsed.tokens)
    )
    clauses = [tuple(segment) for segment in _clause_words(parsed.tokens) if len(segment) >= 2]
    repeats += len(clauses) - len(set(clauses))
    last = parsed.tokens[-1]
    truncation = 0 if last in SENTENCE_END else (2 if last in DANGLING_WORDS else 1)
    return float(max(0, min(5, 5 - repeats - parsed.unknown_tokens - truncation)))


def _clause_words(tokens: Sequence[str]) -> list[list[str]]:
    clauses: list[list[str]] = [[]]
    for token in tokens:
        if token in _PUNCTUATION:
            clauses.append([])
        else:
            clauses[-1].append(token)
    return clauses


def _consistency(claims: Sequence[set[tuple[str, ...]]]) -> list[float]:
    """3 x the mean Jaccard overlap of each candidate's claims with every other candidate's."""
    scores = []
    for index, own in enumerate(claims):
        others = [other for j, other in enumerate(claims) if j != index]
        if not own:
            scores.append(0.0)
        elif not others:
            scores.append(3.0)
        else:
            scores.append(3.0 * fmean(len(own & other) / len(own | other) for other in others))
    return scores


MAX_COMBINED = 1.1 * 5 + 5 + 3


class ExactFactJudge:
    """Grades captions of the embedded world against its ground-truth facts (no model, no network)."""

    name = "exact-fact"

    def grade(self, caption: str, facts: ClipFacts, dimension: str) -> FactGrade:
        return grade_parsed(parse_caption(caption), facts, dimension)

    def rate(self, candidates: Sequence[str], facts: ClipFacts, dimension: str) -> list[Rating]:
        parsed = [parse_caption(candidate) for candidate in candidates]
        consistency = _consistency([p.claims() for p in parsed])
        ratings = []
        for caption, c in zip(parsed, consistency, strict=True):
            grade = grade_parsed(caption, facts, dimension)
            h = float(max(0, 5 - grade.hallucinated))
            f = fluency(caption)
            combined = 1.1 * h + f + c
            ratings.append(Rating(h, f, c, combined, 10.0 * combined / MAX_COMBINED, grade))
        return ratings


# -------------------------------------------------------------------------------- VDC-style summaries


def fact_accuracy(grade: FactGrade) -> float:
    """Percent of the dimension's facts stated correctly (extra claims do not count)."""
    expected = grade.correct + grade.missed
    return 100.0 * grade.correct / expected if expected else 0.0


def vdc_score(grade: FactGrade) -> float:
    """The 0..5 score VDCscore reports, here score / 2."""
    return grade.score / 2.0


def summarize_vdc(grades: Iterable[FactGrade]) -> dict[str, float]:
    """Mean accuracy (%) and mean 0..5 score over clips of one dimension."""
    grades = list(grades)
    if not grades:
        return {"accuracy": 0.0, "score": 0.0}
    return {"accuracy": fmean(map(fact_accuracy, grades)), "score": fmean(map(vdc_score, grades))}


def can_grade(judge: Any, examples: Sequence[CaptionExample], facts: Mapping[str, Any]) -> bool:
    """Whether ``grade_examples`` can grade every example with this judge."""
    return hasattr(judge, "grade_reference") or all(example.clip_id in facts for example in examples)


def grade_examples(
    judge: Any,
    predictions: Mapping[tuple[str, str], str],
    examples: Sequence[CaptionExample],
    facts: Mapping[str, Any],
) -> list[FactGrade]:
    """Grade the prediction for each example (a missing prediction is the empty caption).

    Clips with ground-truth facts are graded with ``judge.grade``; others need a judge that grades
    against reference text, ``judge.grade_reference(caption, references, dimension) -> FactGrade``
    (an LLM judge, VDCscore-style); the exact-fact judge has no such method.
    """
    grades = []
    for example in examples:
        caption = predictions.get((example.clip_id, example.dimension), "")
        if example.clip_id in facts:
            grades.append(judge.grade(caption, facts[example.clip_id], example.dimension))
        elif hasattr(judge, "grade_reference"):
            grades.append(judge.grade_reference(caption, example.references, example.dimension))
        else:
            name = getattr(judge, "name", type(judge).__name__)
            raise JudgeError(
                f"judge '{name}' needs ground-truth facts, and clip '{example.clip_id}' (real data) has "
                "none; grade real captions with a judge that implements grade_reference (an LLM judge)"
            )
    return grades
