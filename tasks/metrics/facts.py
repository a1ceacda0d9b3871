"""Fact metrics (VDC-style): the fact score every judge reports, and the summaries a task reports.

VDCscore (AuroraCap) asks questions drawn from the reference about each fact, answers them from the
caption, and reports per dimension the share of right answers (accuracy, %) and a 0-5 score. A
``FactGrade`` carries that reading as counts: ``correct`` questions answered right, ``missed`` the other
questions (unanswered or wrong), ``hallucinated`` the false facts the caption states. The exact judge
computes them from the world's facts (one question per fact; its ``_exact/grader`` docstring gives the
rules: a stated set, a hedge or a negation answers nothing right); an LLM judge counts them from
reference text.

- ``fact_grade``: counts -> ``FactGrade`` with score = 10 * correct / (correct + missed + hallucinated),
  in 0..10: the one formula of the exact judge and the LLM judges, so they report on one scale;
- ``fact_accuracy`` = 100 * correct / (correct + missed): VDCscore's accuracy, the percentage of the
  dimension's questions answered right. False facts outside the questions do not lower it (VDCscore
  asks only about the reference), but they cannot raise it either: a question answered with a set of
  values is wrong;
- ``vdc_score`` = score / 2 = 5 * correct / (correct + missed + hallucinated), in 0..5: the mean of a
  per-question score (5 for a right answer, 0 otherwise) over the questions plus one item scored 0 per
  false fact stated, so hallucinations cost here as VDCscore's judge lowers its 0-5 score for wrong
  details;
- ``grade_examples``: a judge's grades of a model's predictions, against ground-truth facts where a clip
  has them, else against its reference text (which needs a ``ReferenceJudge``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from statistics import fmean

from synpo_bench.api.facts import ClipFacts
from synpo_bench.api.judges import FactGrade, Judge, JudgeError, ReferenceJudge
from synpo_bench.api.tasks import CaptionExample


def fact_grade(correct: int, missed: int, hallucinated: int) -> FactGrade:
    """The grade of these counts: score = 10 * correct / (correct + missed + hallucinated), 0 if none."""
    total = correct + missed + hallucinated
    return FactGrade(correct, missed, hallucinated, 10.0 * correct / total if total else 0.0)


def fact_accuracy(grade: FactGrade) -> float:
    """VDCscore's accuracy: percent of the dimension's questions answered right (see the module docstring)."""
    expected = grade.correct + grade.missed
    return 100.0 * grade.correct / expected if expected else 0.0


def vdc_score(grade: FactGrade) -> float:
    """VDCscore's 0..5 score: score / 2, i.e. 5 per right answer over questions + false facts stated."""
    return grade.score / 2.0


def summarize_vdc(grades: Iterable[FactGrade]) -> dict[str, float]:
    """Mean accuracy (%) and mean 0..5 score over clips of one dimension."""
    grades = list(grades)
    if not grades:
        return {"accuracy": 0.0, "score": 0.0}
    return {"accuracy": fmean(map(fact_accuracy, grades)), "score": fmean(map(vdc_score, grades))}


def can_grade(judge: Judge, examples: Sequence[CaptionExample], facts: Mapping[str, ClipFacts]) -> bool:
    """Whether ``grade_examples`` can grade every example with this judge."""
    return isinstance(judge, ReferenceJudge) or all(example.clip_id in facts for example in examples)


def grade_examples(
    judge: Judge,
    predictions: Mapping[tuple[str, str], str],
    examples: Sequence[CaptionExample],
    facts: Mapping[str, ClipFacts],
) -> list[FactGrade]:
    """Grade the prediction for each example (a missing prediction is the empty caption).

    Clips with ground-truth facts are graded with ``judge.grade``; others need a ``ReferenceJudge``
    (an LLM judge, VDCscore-style) to grade against reference text; the exact-fact judge is not one.
    """
    grades = []
    for example in examples:
        caption = predictions.get((example.clip_id, example.dimension), "")
        if example.clip_id in facts:
            grades.append(judge.grade(caption, facts[example.clip_id], example.dimension))
        elif isinstance(judge, ReferenceJudge):
            grades.append(judge.grade_reference(caption, example.references, example.dimension))
        else:
            raise JudgeError(
                f"judge '{judge.name}' needs ground-truth facts, and clip '{example.clip_id}' (real data) "
                "has none; grade real captions with a judge that implements grade_reference (an LLM judge)"
            )
    return grades
