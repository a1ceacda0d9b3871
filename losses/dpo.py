from __future__ import annotations

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats
from synpo_bench.losses._common import neg_log_sigmoid, reference_log_ratios


def dpo_terms(stats: PairStats, beta: float, label_smoothing: float) -> LossTerms:
    """Shared by dpo and cdpo: -(1-ε) log σ(βΔ) - ε log σ(-βΔ), Δ = r(w) - r(l)."""
    chosen, rejected = reference_log_ratios(stats)
    logits = beta * (chosen - rejected)
    per_pair = (1 - label_smoothing) * neg_log_sigmoid(logits) + label_smoothing * neg_log_sigmoid(-logits)
    return LossTerms(per_pair, beta * chosen, beta * rejected)


@register_loss(
    "dpo",
    needs_reference=True,
    citation="Rafailov et al. 2023, Direct Preference Optimization: Your Language Model is Secretly a "
    "Reward Model (arXiv:2305.18290)",
    beta=0.1,
    label_smoothing=0.0,
)
def dpo(stats: PairStats, beta: float, label_smoothing: float) -> LossTerms:
    """DPO: -log σ(β((s(w) - s_ref(w)) - (s(l) - s_ref(l)))); label_smoothing ε > 0 gives cDPO.

    Rafailov et al. 2023, "Direct Preference Optimization: Your Language Model is Secretly a Reward
    Model", arXiv:2305.18290. Rewards are β·r(y) over summed response log-probabilities.
    """
    return dpo_terms(stats, beta, label_smoothing)
