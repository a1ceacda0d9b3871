from __future__ import annotations

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats
from synpo_bench.losses.dpo import dpo_terms


@register_loss(
    "cdpo",
    needs_reference=True,
    citation="Mitchell 2023, A note on DPO with noisy preferences & relationship to IPO (cDPO)",
    beta=0.1,
    label_smoothing=0.1,
)
def cdpo(stats: PairStats, beta: float, label_smoothing: float) -> LossTerms:
    """Conservative DPO: -(1-ε) log σ(βΔ) - ε log σ(-βΔ), assuming labels flipped with probability ε.

    Mitchell 2023, "A note on DPO with noisy preferences & relationship to IPO"; ε=0.1 by default.
    """
    return dpo_terms(stats, beta, label_smoothing)
