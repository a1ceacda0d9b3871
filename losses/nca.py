from __future__ import annotations

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats
from synpo_bench.losses._common import neg_log_sigmoid, reference_log_ratios


@register_loss(
    "nca",
    needs_reference=True,
    citation="Chen et al. 2024, Noise Contrastive Alignment of Language Models with Explicit Rewards "
    "(arXiv:2402.05369)",
    beta=0.1,
)
def nca(stats: PairStats, beta: float) -> LossTerms:
    """NCA, paired form: -log σ(βr(w)) - ½ log σ(-βr(w)) - ½ log σ(-βr(l)).

    Chen et al. 2024, "Noise Contrastive Alignment of Language Models with Explicit Rewards",
    arXiv:2402.05369. Optimises absolute rewards, so the chosen likelihood is pushed up, not only the gap.
    """
    chosen, rejected = reference_log_ratios(stats)
    chosen, rejected = beta * chosen, beta * rejected
    per_pair = neg_log_sigmoid(chosen) + 0.5 * neg_log_sigmoid(-chosen) + 0.5 * neg_log_sigmoid(-rejected)
    return LossTerms(per_pair, chosen, rejected)
