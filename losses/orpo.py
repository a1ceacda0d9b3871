from __future__ import annotations

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats, log1mexp
from synpo_bench.losses._common import neg_log_sigmoid


@register_loss(
    "orpo",
    needs_reference=False,
    citation="Hong et al. 2024, ORPO: Monolithic Preference Optimization without Reference Model "
    "(arXiv:2403.07691)",
    lam=0.1,
)
def orpo(stats: PairStats, lam: float) -> LossTerms:
    """ORPO: -m(w) + λ·(-log σ(log odds(w) - log odds(l))), odds(y) = P/(1-P), P = exp(m(y)).

    Hong et al. 2024, "ORPO: Monolithic Preference Optimization without Reference Model",
    arXiv:2403.07691. The first term is the token-averaged NLL of the chosen response. Reference-free.
    """
    log_odds_chosen = stats.chosen_logp_mean - log1mexp(stats.chosen_logp_mean)
    log_odds_rejected = stats.rejected_logp_mean - log1mexp(stats.rejected_logp_mean)
    odds_ratio_term = neg_log_sigmoid(log_odds_chosen - log_odds_rejected)
    nll = -stats.chosen_logp_mean
    per_pair = nll + lam * odds_ratio_term
    return LossTerms(
        per_pair,
        log_odds_chosen,
        log_odds_rejected,
        {"nll_chosen": nll.mean(), "odds_ratio_loss": odds_ratio_term.mean()},
    )
