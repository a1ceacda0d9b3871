"""The exact judge's grader: a parsed caption against a clip's ground-truth facts -> ``FactGrade``.

VDCscore, computed exactly. VDCscore (AuroraCap) turns the reference description into short questions,
answers each from the candidate caption and marks each answer right or wrong (accuracy) with a 0-5 score.
Here the questions come from the clip's facts, one per fact the dimension expects
(``DIMENSION_FACTS``): VATEX ``caption`` and VDC ``short``: each object's shape, colour, motion; VDC
``detailed`` and VDD ``description``: each object's shape, colour, size, motion + background + camera;
``main_object``: the main object's four facts; ``background`` / ``camera``: that one fact.

A question about an object names it as a question writer would, by the fewest of its *other* graded
facts that single it out in the clip (``identifier``): "what colour is the circle?", "how does the
circle move?", "what shape is the red object?" ("how does the red object move?" when two circles),
nothing at all in a clip of one object. A
description that fits several objects asks about them together (the truth is their set of values).

Answering (``answer``), from the parsed caption:
- an object question reads the caption's mentions that fit the description best: among the mentions
  stating at least one identifying fact rightly, those with the highest (right - wrong) identifying
  values (every mention when the identifier is empty). The answer is the union of their values for the
  asked attribute; background and camera questions read the caption's backgrounds / camera motions;
- the answer is right only when it is exactly the truth: a stated set ("red or blue", a listed
  background, a colour per object of each shape) is not the fact stated, however many of its members
  are true; an answer read from the wrong object (rotated attributes) is wrong; negated facts are no
  answer (the parser drops them); a word outside the lexicon answers nothing.

The grade (``grade_parsed``):
- ``correct``: questions answered right; ``missed``: the others (unanswered or wrong);
- ``hallucinated``: every stated fact, of any dimension, that is false of the clip: a false member of a
  stated set, a wrong attribute of the object a mention is matched to, every attribute (shape included)
  of a mention that matches no object, a wrong background, a wrong camera motion. Matching: a clip's
  objects are matched to the caption's mentions by the assignment that maximises agreement; a mention
  is only matched to an object it agrees with on more attributes than it contradicts. Negated facts are
  never hallucinations; right facts outside the dimension are neither rewarded nor punished;
- ``score`` = 10 * correct / (correct + missed + hallucinated), in 0..10 (``metrics.facts.fact_grade``).
``grade_detail`` keeps the questions, the answers and the caption's unknown words beside the grade.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from synpo_bench.api.facts import ClipFacts, ObjectFacts
from synpo_bench.api.judges import FactGrade
from synpo_bench.tasks.judges._exact.parser import Mention, ParsedCaption
from synpo_bench.tasks.metrics.facts import fact_grade

OBJECT_ATTRIBUTES = ("shape", "colour", "size", "motion")
IDENTIFYING_ORDER = ("shape", "colour", "motion", "size")
"""The facts a question names an object by, in the order a question writer reaches for them: the noun
("the circle"), then its colour (unique in a clip), motion and size."""


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


@dataclass(frozen=True)
class Question:
    """One fact the dimension expects, asked of the caption."""

    attribute: str  # an object attribute, "background" or "camera"
    truth: frozenset[str]
    obj: ObjectFacts | None = None  # None for background and camera
    identifier: tuple[str, ...] = ()  # the object's facts that name it in the question


@dataclass(frozen=True)
class Answer:
    question: Question
    stated: frozenset[str]
    correct: bool


@dataclass(frozen=True)
class GradeDetail:
    """A grade with its reasons: every question and answer, and the words the judge did not know."""

    grade: FactGrade
    answers: tuple[Answer, ...]
    unknown_words: tuple[str, ...]


def dimension_spec(dimension: str) -> DimensionSpec:
    """The facts a dimension expects; ``ValueError`` naming the valid dimensions for an unknown one."""
    if dimension not in DIMENSION_FACTS:
        raise ValueError(f"unknown caption dimension '{dimension}'; valid: {', '.join(DIMENSION_FACTS)}")
    return DIMENSION_FACTS[dimension]


def _same(a: ObjectFacts, b: ObjectFacts, attributes: Sequence[str]) -> bool:
    return all(getattr(a, attribute) == getattr(b, attribute) for attribute in attributes)


def identifier(
    obj: ObjectFacts, attribute: str, objects: Sequence[ObjectFacts], graded: Sequence[str]
) -> tuple[str, ...]:
    """The fewest of ``obj``'s other graded facts (in ``IDENTIFYING_ORDER``) that no other object shares;
    all of them when none do. Empty for a clip of one object."""
    others = [other for other in objects if other is not obj]
    if not others:
        return ()
    usable = [a for a in IDENTIFYING_ORDER if a in graded and a != attribute]
    for size in range(1, len(usable) + 1):
        for subset in itertools.combinations(usable, size):
            if not any(_same(obj, other, subset) for other in others):
                return subset
    return tuple(usable)


def questions(facts: ClipFacts, dimension: str) -> list[Question]:
    """The questions the dimension asks of a caption of this clip (see the module docstring)."""
    spec = dimension_spec(dimension)
    graded = range(len(facts.objects)) if spec.objects == "all" else [0] if spec.objects == "main" else []
    asked = []
    for index in graded:
        obj = facts.objects[index]
        for attribute in spec.attributes:
            names = identifier(obj, attribute, facts.objects, spec.attributes)
            group = [other for other in facts.objects if _same(obj, other, names)]
            truth = frozenset(getattr(other, attribute) for other in group)
            asked.append(Question(attribute, truth, obj, names))
    if spec.background:
        asked.append(Question("background", frozenset({facts.background})))
    if spec.camera:
        asked.append(Question("camera", frozenset({facts.camera})))
    return asked


def referents(question: Question, mentions: Sequence[Mention]) -> list[Mention]:
    """The mentions a reader takes the question's object to be (see the module docstring)."""
    if not question.identifier:
        return list(mentions)
    best: list[Mention] = []
    best_gain = 0
    for mention in mentions:
        agree, disagree = _agreement(mention, question.obj, question.identifier)  # type: ignore[arg-type]
        if agree == 0:
            continue
        if not best or agree - disagree > best_gain:
            best, best_gain = [mention], agree - disagree
        elif agree - disagree == best_gain:
            best.append(mention)
    return best


def answer(question: Question, parsed: ParsedCaption) -> Answer:
    """The caption's answer to one question, and whether it is exactly the truth."""
    if question.attribute == "background":
        stated = frozenset(parsed.backgrounds)
    elif question.attribute == "camera":
        stated = frozenset(parsed.cameras)
    else:
        found = referents(question, parsed.mentions)
        stated = frozenset(value for mention in found for value in mention.values(question.attribute))
    return Answer(question, stated, bool(stated) and stated == question.truth)


def _agreement(mention: Mention, obj: ObjectFacts, attributes: Sequence[str]) -> tuple[int, int]:
    agree = disagree = 0
    for attribute in attributes:
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
            agree, disagree = _agreement(mentions[m], obj, OBJECT_ATTRIBUTES)
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


def hallucinations(parsed: ParsedCaption, facts: ClipFacts) -> int:
    """Stated facts, of any dimension, that are false of the clip (see the module docstring)."""
    count = len(parsed.backgrounds - {facts.background}) + len(parsed.cameras - {facts.camera})
    matched = {m: o for o, m in match_mentions(parsed.mentions, facts.objects).items()}
    for m, mention in enumerate(parsed.mentions):
        if m in matched:
            count += _agreement(mention, facts.objects[matched[m]], OBJECT_ATTRIBUTES)[1]
        else:
            count += sum(len(mention.values(attribute)) for attribute in OBJECT_ATTRIBUTES)
    return count


def grade_detail(parsed: ParsedCaption, facts: ClipFacts, dimension: str) -> GradeDetail:
    """The grade of a parsed caption, with every question, its answer and the unknown words."""
    answers = tuple(answer(question, parsed) for question in questions(facts, dimension))
    correct = sum(a.correct for a in answers)
    grade = fact_grade(correct, len(answers) - correct, hallucinations(parsed, facts))
    return GradeDetail(grade, answers, tuple(parsed.unknown_words))


def grade_parsed(parsed: ParsedCaption, facts: ClipFacts, dimension: str) -> FactGrade:
    """The caption's correct, missed and hallucinated facts for one dimension (see the module docstring)."""
    return grade_detail(parsed, facts, dimension).grade
