from __future__ import annotations

from synpo_bench.api.diagnostics import LossTerms
from synpo_bench.api.losses import register_loss
from synpo_bench.api.stats import PairStats


@register_loss(
    "sft",
    needs_reference=False,
    citation="Ouyang et al. 2022, Training language models to follow instructions with human feedback "
    "(arXiv:2203.02155), supervised fine-tuning stage",
)
def sft(stats: PairStats) -> LossTerms:
    """SFT on the chosen response only: -m(w), the token-averaged NLL; the floor every loss must beat.

    Supervised fine-tuning as in Ouyang et al. 2022, "Training language models to follow instructions with
    human feedback", arXiv:2203.02155. Ignores the rejected response; rewards are m(y).
    """
    return LossTerms(-stats.chosen_logp_mean, stats.chosen_logp_mean, stats.rejected_logp_mean)
