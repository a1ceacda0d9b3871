from __future__ import annotations

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats


@register_loss(
    "ipo",
    needs_reference=True,
    citation="Azar et al. 2023, A General Theoretical Paradigm to Understand Learning from Human "
    "Preferences (arXiv:2310.12036)",
    tau=0.1,
)
def ipo(stats: PairStats, tau: float) -> LossTerms:
    """IPO: (h - 1/(2τ))², h = (m(w) - m_ref(w)) - (m(l) - m_ref(l)) over token-averaged log-probs.

    Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human Preferences",
    arXiv:2310.12036. Length-averaged as TRL implements it.
    """
    chosen = stats.chosen_logp_mean - stats.ref_chosen_logp_mean
    rejected = stats.rejected_logp_mean - stats.ref_rejected_logp_mean
    per_pair = (chosen - rejected - 1.0 / (2.0 * tau)) ** 2
    return LossTerms(per_pair, chosen, rejected)
