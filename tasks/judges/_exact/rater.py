"""The exact judge's rater: SynPO's judge scores (H, F, C) for the candidate captions of one clip.

- hallucination H = max(0, 5 - hallucinated facts)                           (0..5, higher is better);
  hallucinated as the grader counts them: every false fact stated, each false member of a stated set
  ("red or blue", a listed background) included, negated facts never;
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
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from statistics import fmean

from synpo_bench.api.facts import ClipFacts
from synpo_bench.api.judges import Rating
from synpo_bench.tasks.judges._exact.grader import grade_parsed
from synpo_bench.tasks.judges._exact.lexicon import PUNCTUATION, word_set
from synpo_bench.tasks.judges._exact.parser import ParsedCaption, parse_caption

SENTENCE_END = frozenset({".", "!", "?"})
# Words a sentence cannot end on: a caption ending on one was cut off.
DANGLING_WORDS = word_set(
    "a an the and while as is are of on in to by with that which against across over into from at there"
    " its it"
)


def fluency(parsed: ParsedCaption) -> float:
    """F in 0..5 (see the module docstring)."""
    words = [token for token in parsed.tokens if token not in PUNCTUATION]
    if not words:
        return 0.0
    repeats = sum(
        current == previous and current not in PUNCTUATION
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
        if token in PUNCTUATION:
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


def rate_captions(candidates: Sequence[str], facts: ClipFacts, dimension: str) -> list[Rating]:
    """H, F, C and their combination for each candidate, graded against the clip's facts."""
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
