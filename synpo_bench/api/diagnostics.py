"""What a loss computes (``LossTerms``) and the diagnostics every loss reports each step.

``preference_metrics``: reward chosen/rejected, margin, preference accuracy. ``negative_dominance``: the
gradient split between the chosen and the rejected response (SynPO's central diagnostic). Both are
computed the same way for every loss, from ``PairStats`` and the loss function alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from synpo_bench.api.stats import PairStats


@dataclass(frozen=True)
class LossTerms:
    """What a loss function computes: the per-pair loss and the implicit rewards it compares.

    ``reward_chosen`` / ``reward_rejected`` are the quantities the loss ranks (so ``margin`` and
    ``accuracy`` mean "does the loss currently prefer the chosen response"); ``metrics`` holds extra
    loss-specific diagnostics as scalar tensors.
    """

    per_pair: Tensor
    reward_chosen: Tensor
    reward_rejected: Tensor
    metrics: Mapping[str, Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class LossOutput:
    loss: Tensor
    """Scalar, differentiable: the mean of ``per_pair``."""
    per_pair: Tensor
    metrics: dict[str, float]


LossFunction = Callable[..., LossTerms]


def preference_metrics(terms: LossTerms) -> dict[str, float]:
    chosen, rejected = terms.reward_chosen.detach(), terms.reward_rejected.detach()
    metrics = {
        "reward_chosen": chosen.mean().item(),
        "reward_rejected": rejected.mean().item(),
        "margin": (chosen - rejected).mean().item(),
        "accuracy": (chosen > rejected).float().mean().item(),
    }
    metrics.update({key: float(value.detach().mean()) for key, value in terms.metrics.items()})
    return metrics


def negative_dominance(
    function: LossFunction, params: Mapping[str, float], stats: PairStats
) -> dict[str, float]:
    """How hard the loss pulls on the chosen versus the rejected response ("negative dominance").

    Every token log-probability of a response is shifted by the same δ, which moves ``logp_sum`` by
    n·δ, the token-mean by δ and ``p_mean`` by a factor e^δ, consistently. ∂L/∂δ divided by the
    response's geometric-mean token probability P = exp(logp_mean) is the gradient in probability space,
    where DPO's pull on a rejected response grows like 1/P as P falls (Feng et al. 2024, "Towards
    analyzing and understanding the limitations of DPO"). Costs one extra loss evaluation on ``[batch]``
    scalars, the same for every loss.
    """
    with torch.enable_grad():
        detached = {name: value.detach() for name, value in stats.present_fields().items()}
        shift_chosen = torch.zeros_like(detached["chosen_logp_sum"], requires_grad=True)
        shift_rejected = torch.zeros_like(detached["rejected_logp_sum"], requires_grad=True)
        shifted = PairStats(
            **{
                **detached,
                "chosen_logp_sum": detached["chosen_logp_sum"] + detached["chosen_n_tokens"] * shift_chosen,
                "rejected_logp_sum": detached["rejected_logp_sum"]
                + detached["rejected_n_tokens"] * shift_rejected,
                "chosen_p_mean": detached["chosen_p_mean"] * torch.exp(shift_chosen),
                "rejected_p_mean": detached["rejected_p_mean"] * torch.exp(shift_rejected),
            }
        )
        total = function(shifted, **params).per_pair.sum()
        grad_chosen, grad_rejected = torch.autograd.grad(
            total, [shift_chosen, shift_rejected], allow_unused=True, materialize_grads=True
        )
    chosen = (grad_chosen.abs() / shifted.chosen_logp_mean.detach().exp()).mean().item()
    rejected = (grad_rejected.abs() / shifted.rejected_logp_mean.detach().exp()).mean().item()
    total_pull = chosen + rejected
    return {
        "grad_chosen": chosen,
        "grad_rejected": rejected,
        "negative_dominance": rejected / total_pull if total_pull > 0 else 0.0,
    }
