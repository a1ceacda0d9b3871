"""The judge contract: what a caption judge returns, the protocols the engine and the tasks call, and
the judge registry (``--judge SPEC`` -> a judge, by the first registered factory that accepts SPEC).

Three capabilities, each a protocol, so callers ask ``isinstance(judge, ReferenceJudge)`` rather than
probing attributes:
- ``Judge.grade(caption, facts, dimension)``: grade against a clip's ground-truth facts (every judge);
- ``ReferenceJudge.grade_reference(caption, references, dimension)``: grade against reference text, for
  real data without facts (LLM judges, VDCscore-style);
- ``CandidateRater.rate(candidates, facts, dimension)``: SynPO's H, F, C ratings of sampled candidates,
  for building preference pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from synpo_bench.api.errors import UserError
from synpo_bench.api.facts import ClipFacts
from synpo_bench.api.registry import Registry


@dataclass(frozen=True)
class FactGrade:
    correct: int
    missed: int
    hallucinated: int
    score: float
    """10 * correct / (correct + missed + hallucinated)."""


@dataclass(frozen=True)
class Rating:
    """SynPO-style judge scores of one candidate caption."""

    hallucination: float
    """H, 0..5 (5: nothing false stated)."""
    fluency: float
    """F, 0..5."""
    consistency: float
    """C, 0..3 (agreement with the other candidates)."""
    combined: float
    """1.1 H + F + C, 0..13.5."""
    score10: float
    """combined rescaled to 0..10."""
    grade: FactGrade

    @property
    def H(self) -> float:  # the paper's letters
        return self.hallucination

    @property
    def F(self) -> float:
        return self.fluency

    @property
    def C(self) -> float:
        return self.consistency

    def as_dict(self) -> dict[str, float]:
        return {
            "H": self.hallucination,
            "F": self.fluency,
            "C": self.consistency,
            "combined": self.combined,
            "score10": self.score10,
            "correct": self.grade.correct,
            "missed": self.grade.missed,
            "hallucinated": self.grade.hallucinated,
            "fact_score": self.grade.score,
        }


class JudgeError(ValueError, UserError):
    """A judge that cannot grade the data it is given (e.g. real captions without ground-truth facts)."""


@runtime_checkable
class Judge(Protocol):
    """Grades a caption of one dimension against a clip's ground-truth facts."""

    name: str

    def grade(self, caption: str, facts: ClipFacts, dimension: str) -> FactGrade: ...


@runtime_checkable
class ReferenceJudge(Judge, Protocol):
    """A judge that can also grade against reference text (real data has no facts)."""

    def grade_reference(self, caption: str, references: Sequence[str], dimension: str) -> FactGrade: ...


@runtime_checkable
class CandidateRater(Judge, Protocol):
    """A judge that rates sampled candidate captions of one clip (SynPO's H, F, C)."""

    def rate(self, candidates: Sequence[str], facts: ClipFacts, dimension: str) -> list[Rating]: ...


@dataclass(frozen=True)
class JudgeFactory:
    """How one kind of judge is named on the command line and built."""

    name: str
    accepts: Callable[[str], bool]
    """Whether ``--judge SPEC`` names this kind (``exact``, a URL, ``hf:PATH``, ...)."""
    build: Callable[[str, str | None], Judge]
    """``build(spec, judge_model)``; raises ``UserError`` for a spec it accepts but cannot use."""
    usage: str
    """How to write the spec, for the error message listing every kind."""


JUDGES: Registry[JudgeFactory] = Registry("judge", "judges", "synpo_bench.tasks.judges", "synpo_bench.judges")


def register_judge(factory: JudgeFactory) -> JudgeFactory:
    JUDGES.add(factory.name, factory)
    return factory


def make_judge(spec: str, model: str | None = None) -> Judge:
    """The judge ``--judge SPEC`` names (with ``--judge-model``), or a ``UserError`` listing the kinds."""
    text = spec.strip()
    factories = [JUDGES.get(name) for name in JUDGES.names()]
    for factory in factories:
        if factory.accepts(text):
            return factory.build(text, model)
    usages = [factory.usage for factory in factories]
    kinds = usages[0] if len(usages) == 1 else f"{', '.join(usages[:-1])}, or {usages[-1]}"
    raise JudgeError(f"unknown judge '{spec}'; use {kinds}")
