from __future__ import annotations

import torch

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats
from synpo_bench.losses._common import neg_log_sigmoid, reference_log_ratios


@register_loss(
    "dpop",
    needs_reference=True,
    citation="Pal et al. 2024, Smaug: Fixing Failure Modes of Preference Optimisation with DPO-Positive "
    "(arXiv:2402.13228)",
    beta=0.1,
    lam=50.0,
)
def dpop(stats: PairStats, beta: float, lam: float) -> LossTerms:
    """DPO-Positive: -log σ(β(r(w) - r(l) - λ·max(0, s_ref(w) - s(w)))).

    Pal et al. 2024, "Smaug: Fixing Failure Modes of Preference Optimisation with DPO-Positive",
    arXiv:2402.13228. The penalty fires when the chosen response falls below its reference likelihood.
    """
    chosen, rejected = reference_log_ratios(stats)
    penalty = torch.relu(-chosen)
    per_pair = neg_log_sigmoid(beta * (chosen - rejected - lam * penalty))
    return LossTerms(per_pair, beta * chosen, beta * rejected, {"dpop_penalty": penalty.mean()})
