from __future__ import annotations

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats
from synpo_bench.losses._common import neg_log_sigmoid, reference_log_ratios


@register_loss(
    "rdpo",
    needs_reference=True,
    citation="Park et al. 2024, Disentangling Length from Quality in Direct Preference Optimization "
    "(arXiv:2403.19159)",
    beta=0.1,
    alpha=0.01,
)
def rdpo(stats: PairStats, beta: float, alpha: float) -> LossTerms:
    """Length-regularised DPO: -log σ(β(r(w) - r(l)) + α(|y_w| - |y_l|)), |y| in response tokens.

    Park et al. 2024, "Disentangling Length from Quality in Direct Preference Optimization",
    arXiv:2403.19159, the R-DPO objective; written the same way in the R-DPO row of the table of
    objectives in Meng et al. 2024 (SimPO, arXiv:2405.14734). The sign follows from the paper's
    length-constrained RLHF objective, whose Lagrangian (multiplier α) is
    max E[r(x, y) - α|y|] - β KL(π || π_ref): its optimum is
    π* ∝ π_ref exp((r - α|y|) / β), so r = β log(π*/π_ref) + α|y| + const, and the Bradley-Terry
    probability σ(r(y_w) - r(y_l)) gains +α(|y_w| - |y_l|). A longer chosen response thus already has
    margin and the policy is pushed less to raise it: length is not learned as quality.
    """
    chosen, rejected = reference_log_ratios(stats)
    length_gap = stats.chosen_n_tokens - stats.rejected_n_tokens
    per_pair = neg_log_sigmoid(beta * (chosen - rejected) + alpha * length_gap)
    return LossTerms(per_pair, beta * chosen, beta * rejected)
