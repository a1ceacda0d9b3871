from __future__ import annotations

import torch

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats
from synpo_bench.losses._common import reference_log_ratios


@register_loss(
    "apo_zero",
    needs_reference=True,
    citation="D'Oosterlinck et al. 2024, Anchored Preference Optimization and Contrastive Revisions "
    "(arXiv:2408.06266)",
    beta=0.1,
)
def apo_zero(stats: PairStats, beta: float) -> LossTerms:
    """APO-zero: (1 - σ(βr(w))) + σ(βr(l)); raises the chosen and lowers the rejected likelihood.

    D'Oosterlinck et al. 2024, "Anchored Preference Optimization and Contrastive Revisions: Addressing
    Underspecification in Alignment", arXiv:2408.06266. For data whose chosen answers beat the model's.
    """
    chosen, rejected = reference_log_ratios(stats)
    chosen, rejected = beta * chosen, beta * rejected
    per_pair = (1 - torch.sigmoid(chosen)) + torch.sigmoid(rejected)
    return LossTerms(per_pair, chosen, rejected)
