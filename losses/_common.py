"""Small shared pieces of the loss formulas (not a loss; skipped by discovery)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from synpo_bench.api.stats import PairStats


def reference_log_ratios(stats: PairStats) -> tuple[Tensor, Tensor]:
    """r(y) = s(y) - s_ref(y) for chosen and rejected: the DPO family's implicit reward (before β)."""
    assert stats.ref_chosen_logp_sum is not None and stats.ref_rejected_logp_sum is not None
    return (
        stats.chosen_logp_sum - stats.ref_chosen_logp_sum,
        stats.rejected_logp_sum - stats.ref_rejected_logp_sum,
    )


def neg_log_sigmoid(x: Tensor) -> Tensor:
    """-log σ(x), computed stably."""
    return -F.logsigmoid(x)
