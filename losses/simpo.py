from __future__ import annotations

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats
from synpo_bench.losses._common import neg_log_sigmoid


@register_loss(
    "simpo",
    needs_reference=False,
    citation="Meng et al. 2024, SimPO: Simple Preference Optimization with a Reference-Free Reward "
    "(arXiv:2405.14734)",
    beta=2.0,
    gamma=1.0,
)
def simpo(stats: PairStats, beta: float, gamma: float) -> LossTerms:
    """SimPO: -log σ(β m(w) - β m(l) - γ), rewards are β times the token-averaged log-probabilities.

    Meng et al. 2024, "SimPO: Simple Preference Optimization with a Reference-Free Reward",
    arXiv:2405.14734. β=2.0, γ=1.0 (γ/β = 0.5). Reference-free.
    """
    chosen = beta * stats.chosen_logp_mean
    rejected = beta * stats.rejected_logp_mean
    return LossTerms(neg_log_sigmoid(chosen - rejected - gamma), chosen, rejected)
