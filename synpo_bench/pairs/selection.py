"""Rating the candidates of every prompt with the judge and keeping the clear wins: best vs worst."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from synpo_bench.api.judges import CandidateRater, Rating
from synpo_bench.api.tasks import CaptionExample, PreferencePair, TaskData
from synpo_bench.pairs.settings import PairSettings, Progress

THRESHOLD_TOLERANCE = 1e-9
"""Combined scores are sums of floats (1.1 H): a gap of exactly the threshold must not fail by rounding."""


@dataclass
class PairSet:
    pairs: list[PreferencePair]
    n_prompts: int
    n_candidates: int
    threshold: float
    gaps: list[float]
    """The best-worst combined gap of every prompt, kept or not (prompt order)."""
    kept_by_dimension: dict[str, int] = field(default_factory=dict)
    prompts_by_dimension: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False
    key: str | None = None

    @property
    def kept(self) -> int:
        return len(self.pairs)

    def gap_summary(self) -> dict[str, float | None]:
        """Mean/min/max combined gap over the kept pairs and over all prompts."""
        kept = [float(pair.scores.get("gap", pair.chosen_score - pair.rejected_score)) for pair in self.pairs]
        return {
            "kept_mean": fmean(kept) if kept else None,
            "kept_min": min(kept) if kept else None,
            "kept_max": max(kept) if kept else None,
            "all_mean": fmean(self.gaps) if self.gaps else None,
            "all_min": min(self.gaps) if self.gaps else None,
            "all_max": max(self.gaps) if self.gaps else None,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "n_prompts": self.n_prompts,
            "n_candidates": self.n_candidates,
            "threshold": self.threshold,
            "gaps": self.gap_summary(),
            "kept_by_dimension": dict(self.kept_by_dimension),
            "prompts_by_dimension": dict(self.prompts_by_dimension),
            "seconds": self.seconds,
            "cached": self.cached,
            "key": self.key,
        }


@dataclass(frozen=True)
class Selection:
    best: int
    worst: int
    gap: float
    keep: bool


def select_pair(combined: Sequence[float], threshold: float) -> Selection:
    """Best (first of the highest) and worst (last of the lowest) candidate; kept when the gap reaches
    the threshold."""
    if len(combined) < 2:
        raise ValueError("a pair needs at least two rated candidates")
    best = max(range(len(combined)), key=lambda i: (combined[i], -i))
    worst = min(range(len(combined)), key=lambda i: (combined[i], -i))
    gap = float(combined[best] - combined[worst])
    # A zero gap is no preference, whatever the threshold.
    return Selection(best, worst, gap, gap > 0 and gap >= threshold - THRESHOLD_TOLERANCE)


def rating_dict(rating: Rating) -> dict[str, float]:
    """The judge's scores of one candidate (H, F, C, combined, score10 and the fact counts)."""
    return {key: float(value) for key, value in rating.as_dict().items()}


def pair_from_ratings(
    example: CaptionExample,
    candidates: Sequence[str],
    sources: Sequence[str],
    ratings: Sequence[Rating],
    threshold: float,
) -> tuple[PreferencePair | None, float]:
    """The kept pair of one prompt (or None) and its best-worst gap."""
    selection = select_pair([float(r.combined) for r in ratings], threshold)
    if not selection.keep:
        return None, selection.gap
    chosen, rejected = ratings[selection.best], ratings[selection.worst]
    scores = {
        "dimension": example.dimension,
        "gap": selection.gap,
        "n_candidates": len(candidates),
        "chosen": {**rating_dict(chosen), "source": sources[selection.best]},
        "rejected": {**rating_dict(rejected), "source": sources[selection.worst]},
    }
    pair = PreferencePair(
        clip_id=example.clip_id,
        prompt=example.prompt,
        chosen=candidates[selection.best],
        rejected=candidates[selection.worst],
        chosen_score=float(chosen.combined),
        rejected_score=float(rejected.combined),
        scores=scores,
    )
    return pair, selection.gap


def judge_candidates(
    examples: Sequence[CaptionExample],
    candidates: Sequence[Sequence[str]],
    sources: Sequence[str],
    data: TaskData,
    judge: CandidateRater,
    settings: PairSettings,
    progress: Progress | None = None,
) -> PairSet:
    """Rate every prompt's candidates against its clip's facts and keep the pairs that pass."""
    pairs: list[PreferencePair] = []
    gaps: list[float] = []
    for number, (example, texts) in enumerate(zip(examples, candidates, strict=True)):
        ratings = judge.rate(list(texts), data.facts[example.clip_id], example.dimension)
        pair, gap = pair_from_ratings(example, texts, sources, ratings, settings.threshold)
        gaps.append(gap)
        if pair is not None:
            pairs.append(pair)
        if progress is not None and ((number + 1) % 256 == 0 or number + 1 == len(examples)):
            progress("judging", number + 1, len(examples))
    return PairSet(
        pairs=pairs,
        n_prompts=len(examples),
        n_candidates=sum(map(len, candidates)),
        threshold=settings.threshold,
        gaps=gaps,
        kept_by_dimension=dict(Counter(str(pair.scores["dimension"]) for pair in pairs)),
        prompts_by_dimension=dict(Counter(example.dimension for example in examples)),
    )
