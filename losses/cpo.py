from __future__ import annotations

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats
from synpo_bench.losses._common import neg_log_sigmoid


@register_loss(
    "cpo",
    needs_reference=False,
    citation="Xu et al. 2024, Contrastive Preference Optimization: Pushing the Boundaries of LLM "
    "Performance in Machine Translation (arXiv:2401.08417)",
    beta=0.1,
    alpha=1.0,
)
def cpo(stats: PairStats, beta: float, alpha: float) -> LossTerms:
    """CPO: -log σ(β(s(w) - s(l))) + α·(-m(w)); reference-free DPO plus an NLL term on the chosen.

    Xu et al. 2024, "Contrastive Preference Optimization: Pushing the Boundaries of LLM Performance in
    Machine Translation", arXiv:2401.08417. The NLL is token-averaged, as TRL's CPOTrainer computes it.
    """
    chosen = beta * stats.chosen_logp_sum
    rejected = beta * stats.rejected_logp_sum
    per_pair = neg_log_sigmoid(chosen - rejected) - alpha * stats.chosen_logp_mean
    return LossTerms(per_pair, chosen, rejected)
