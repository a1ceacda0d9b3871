from __future__ import annotations

import torch

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats


@register_loss(
    "hinge",
    needs_reference=False,
    citation="Zhao et al. 2023, SLiC-HF: Sequence Likelihood Calibration with Human Feedback "
    "(arXiv:2305.10425)",
    delta=1.0,
    lam=0.0,
)
def hinge(stats: PairStats, delta: float, lam: float) -> LossTerms:
    """SLiC-HF hinge: max(0, δ - s(w) + s(l)) + λ·(-m(w)), on summed sequence log-likelihoods.

    Zhao et al. 2023, "SLiC-HF: Sequence Likelihood Calibration with Human Feedback", arXiv:2305.10425.
    The calibration loss is reference-free; λ weights the optional NLL regulariser (0 by default).
    """
    margin = stats.chosen_logp_sum - stats.rejected_logp_sum
    per_pair = torch.relu(delta - margin) - lam * stats.chosen_logp_mean
    return LossTerms(per_pair, stats.chosen_logp_sum, stats.rejected_logp_sum)
