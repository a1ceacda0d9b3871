"""The exact judge's grader: a parsed caption against a clip's ground-truth facts -> ``FactGrade``.

Matching: a clip's objects are matched to the caption's (merged) mentions by the assignment that
maximises agreement; a mention is only matched to an object it agrees with on more attributes than it
contradicts.

Grading (``grade_parsed``), per caption dimension (``DIMENSION_FACTS``):
- expected facts: VATEX ``caption`` and VDC ``short``: each object's shape, colour, motion; VDC
  ``detailed`` and VDD ``description``: each object's shape, colour, size, motion + background + camera;
  ``main_object``: the main object's four facts; ``background`` / ``camera``: that one fact.
- ``correct``: expected facts the caption states rightly; ``missed``: expected facts not stated rightly
  (a wrong value is missed *and* hallucinated);
- ``hallucinated``: every stated fact, of any dimension, that is false of the clip: a wrong attribute of
  a matched object, every attribute (shape included) of a mention that matches no object, a wrong
  background, a wrong camera motion. Right facts outside the dimension are neither rewarded nor punished.
- ``score`` = 10 * correct / (correct + missed + hallucinated), in 0..10 (``metrics.facts.fact_grade``).
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


def dimension_spec(dimension: str) -> DimensionSpec:
    """The facts a dimension expects; ``ValueError`` naming the valid dimensions for an unknown one."""
    if dimension not in DIMENSION_FACTS:
        raise ValueError(f"unknown caption dimension '{dimension}'; valid: {', '.join(DIMENSION_FACTS)}")
    return DIMENSION_FACTS[dimension]


def _graded_objects(spec: DimensionSpec, facts: ClipFacts) -> list[int]:
    if spec.objects == "all":
        return list(range(len(facts.objects)))
    return [0] if spec.objects == "main" else []


def grade_parsed(parsed: ParsedCaption, facts: ClipFacts, dimension: str) -> FactGrade:
    """The caption's correct, missed and hallucinated facts for one dimension (see the module docstring)."""
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
    return fact_grade(correct, missed, hallucinated)
