from __future__ import annotations

import torch

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats
from synpo_bench.losses._common import reference_log_ratios


@register_loss(
    "kto",
    needs_reference=True,
    citation="Ethayarajh et al. 2024, KTO: Model Alignment as Prospect Theoretic Optimization "
    "(arXiv:2402.01306), paired form",
    beta=0.1,
)
def kto(stats: PairStats, beta: float) -> LossTerms:
    """KTO, paired form: ½[(1 - σ(β(r(w) - z_l))) + (1 - σ(β(z_w - r(l))))], z = max(0, mean r), detached.

    Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect Theoretic Optimization", arXiv:2402.01306,
    with λ_D = λ_U = 1 and each pair read as one desirable and one undesirable example. The reference
    point z is the batch-mean reward of the other side, clamped at 0 and not back-propagated (as the
    paper's KL estimate); the ½ makes the loss the mean over the 2·batch examples, as TRL's kto_pair did.
    """
    chosen, rejected = reference_log_ratios(stats)
    z_chosen = chosen.detach().mean().clamp(min=0)
    z_rejected = rejected.detach().mean().clamp(min=0)
    desirable = 1 - torch.sigmoid(beta * (chosen - z_rejected))
    undesirable = 1 - torch.sigmoid(beta * (z_chosen - rejected))
    per_pair = 0.5 * (desirable + undesirable)
    return LossTerms(per_pair, beta * chosen, beta * rejected)
