"""The exact-fact judge (``--judge exact``): grades a caption against a clip's known facts, and rates
candidate captions, with no model and no network. Deterministic: the same caption and clip always get
the same grade.

Three steps, one module each in ``_exact/``, whose docstrings state the rules:
- ``parser``: the facts a caption states (robust to word order, to every paraphrase the reference
  writer uses and to common synonyms; the words and phrases it knows are in ``lexicon``). Negated facts
  ("not purple") are not statements; a word it does not know states nothing and is listed;
- ``grader``: VDCscore computed exactly: one question per fact the dimension expects, each naming its
  object as a question writer would ("what colour is the circle?"), answered from the caption; an
  answer is right only when it is exactly the truth (a stated set such as "red or blue", or a listed
  background, is not the fact stated; an attribute said of another object is not credited) ->
  correct, missed, hallucinated (every false fact stated, a false member of a set included) and
  score = 10 * correct / (correct + missed + hallucinated);
- ``rater``: SynPO's judge scores of the candidates of one clip: hallucination H, fluency F (unknown
  words cost fluency), consistency C, combined = 1.1 H + F + C.

VDC-style summaries of the grades (accuracy, 0..5 score) are in ``synpo_bench.tasks.metrics.facts``;
``ExactFactJudge.explain`` shows the questions, the caption's answers and its unknown words.
"""

from __future__ import annotations

from collections.abc import Sequence

from synpo_bench.api.facts import ClipFacts
from synpo_bench.api.judges import FactGrade, Judge, JudgeFactory, Rating, register_judge
from synpo_bench.tasks.judges._exact.grader import GradeDetail, grade_detail, grade_parsed
from synpo_bench.tasks.judges._exact.parser import parse_caption
from synpo_bench.tasks.judges._exact.rater import rate_captions


class ExactFactJudge:
    """Grades captions of the embedded world against its ground-truth facts (no model, no network)."""

    name = "exact-fact"

    def grade(self, caption: str, facts: ClipFacts, dimension: str) -> FactGrade:
        return grade_parsed(parse_caption(caption), facts, dimension)

    def explain(self, caption: str, facts: ClipFacts, dimension: str) -> GradeDetail:
        """The grade with its reasons: each question, the caption's answer, and its unknown words."""
        return grade_detail(parse_caption(caption), facts, dimension)

    def rate(self, candidates: Sequence[str], facts: ClipFacts, dimension: str) -> list[Rating]:
        return rate_captions(candidates, facts, dimension)


SPECS = ("exact", "exact-fact")
"""The ``--judge`` values that name this judge (case-insensitive)."""


def _build(spec: str, model: str | None) -> Judge:
    return ExactFactJudge()  # --judge-model is ignored


register_judge(
    JudgeFactory(
        name="exact",
        accepts=lambda spec: spec.lower() in SPECS,
        build=_build,
        usage="'exact' (or 'exact-fact') for the ground-truth judge",
    )
)
