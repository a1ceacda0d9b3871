from __future__ import annotations

import torch

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats


@register_loss(
    "synpo",
    needs_reference=False,
    citation="Dang et al. 2025, SynPO: Synergizing Descriptiveness and Preference Optimization for Video "
    "Detailed Captioning (arXiv:2506.00835); form of the authors' released train_synpo.py",
    alpha=30.0,
    beta=0.2,
)
def synpo(stats: PairStats, alpha: float, beta: float) -> LossTerms:
    """SynPO: -σ(α(exp(m(w)) - exp(m(l)))) - β·p_mean(w), as the authors' released training code does.

    Dang et al. 2025, "SynPO: Synergizing Descriptiveness and Preference Optimization for Video Detailed
    Captioning", arXiv:2506.00835. exp(m(y)) is the geometric-mean token probability; the bounded sigmoid
    (not log-sigmoid) saturates as the rejected response is pushed down, so negatives cannot dominate the
    update, and β·p_mean(w) (mean token probability of the chosen response) keeps language ability.
    α=30, β=0.2; log-probs include the EOS token (the data pipeline appends it). Reference-free.
    """
    chosen = torch.exp(stats.chosen_logp_mean)
    rejected = torch.exp(stats.rejected_logp_mean)
    preference = torch.sigmoid(alpha * (chosen - rejected))
    language = stats.chosen_p_mean
    per_pair = -preference - beta * language
    return LossTerms(
        per_pair,
        alpha * chosen,
        alpha * rejected,
        {"preference_term": preference.mean(), "language_term": language.mean()},
    )
