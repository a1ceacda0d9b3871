"""Preference metrics of a trained policy: held-out preference accuracy and the judge's win rate.

- ``heldout_preference``: on held-out pairs (never trained on), the share whose chosen response has the
  higher mean token log-probability under the policy (``accuracy``), and the mean of that difference
  (``margin``, nats per token). The mean, not the sum, so that a shorter rejected caption does not win on
  length alone. The margin moves with every step of preference learning, where the accuracy on a few
  dozen pairs moves by whole pairs only: a loss trained the wrong way round, or too little, shows in it.
- ``win_outcomes`` / ``win_rate``: per eval example, the judge's score of the trained policy's caption
  against the starting model's caption: a win (1), a tie (half a win) or a loss (0); their rate in %.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from synpo_bench.api.facts import ClipFacts
from synpo_bench.api.judges import Judge
from synpo_bench.api.models import Policy, pair_rows, policy_logits
from synpo_bench.api.stats import sequence_stats, split_pairs
from synpo_bench.api.tasks import CaptionExample, PreferencePair


@dataclass(frozen=True)
class HeldoutPreference:
    accuracy: float
    """Fraction (0-1) of pairs whose chosen response has the higher mean token log-probability."""
    margin: float
    """Mean over pairs of chosen minus rejected mean token log-probability (nats per token)."""


def heldout_preference(
    model: Policy, pairs: Sequence[PreferencePair], frames: Mapping[str, np.ndarray], batch_size: int
) -> HeldoutPreference:
    """The policy's preference accuracy and mean margin on ``pairs`` (see the module docstring)."""
    if not pairs:
        raise ValueError("preference accuracy of no pairs is undefined")
    margins: list[torch.Tensor] = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            batch = pair_rows(model.collate, pairs[start : start + batch_size], frames)
            batch = {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            logits = policy_logits(model, batch)
            stats = split_pairs(sequence_stats(logits, batch["labels"]))
            margins.append((stats.chosen_logp_mean - stats.rejected_logp_mean).double().cpu())
    margin = torch.cat(margins)
    return HeldoutPreference(float((margin > 0).double().mean()), float(margin.mean()))


def win_outcomes(
    judge: Judge,
    examples: Sequence[CaptionExample],
    captions: Sequence[str],
    base_captions: Sequence[str],
    facts: Mapping[str, ClipFacts],
) -> list[float]:
    """Per example, 1 if the judge scores ``captions`` above ``base_captions``, 0.5 on a tie, else 0."""
    outcomes = []
    for example, trained, base in zip(examples, captions, base_captions, strict=True):
        clip_facts = facts[example.clip_id]
        trained_score = judge.grade(trained, clip_facts, example.dimension).score
        base_score = judge.grade(base, clip_facts, example.dimension).score
        outcomes.append(1.0 if trained_score > base_score else 0.5 if trained_score == base_score else 0.0)
    return outcomes


def win_rate(outcomes: Sequence[float]) -> dict[str, float]:
    """Win and tie rates (%) of the per-example ``win_outcomes``."""
    wins = sum(outcome == 1.0 for outcome in outcomes)
    ties = sum(outcome == 0.5 for outcome in outcomes)
    n = max(len(outcomes), 1)
    return {"win_rate": 100.0 * (wins + 0.5 * ties) / n, "tie_rate": 100.0 * ties / n}
