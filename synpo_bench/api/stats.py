"""Per-sequence statistics that every loss is computed from.

The trainer runs one forward pass over a concatenated batch (chosen rows first, then rejected rows) and
reduces the logits to a handful of numbers per sequence, over the response tokens only. Losses never see
logits, so each loss is a few lines and testable without a model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor

IGNORE_INDEX = -100
"""Label value for positions that are not scored (prompt, padding, frame tokens); the HF convention."""


class NonFiniteError(ValueError):
    """A statistic or a loss is NaN or infinite: training cannot go on from this step."""


@dataclass(frozen=True)
class SequenceStats:
    """Statistics of a batch of sequences, each a float tensor of shape ``[n_sequences]``."""

    logp_sum: Tensor
    n_tokens: Tensor
    p_mean: Tensor

    @property
    def logp_mean(self) -> Tensor:
        return self.logp_sum / self.n_tokens


@dataclass(frozen=True)
class PairStats:
    """Statistics of a batch of preference pairs; every field is a float tensor of shape ``[batch]``.

    ``*_p_mean`` is the mean of the token probabilities (not their geometric mean); the token-averaged
    log-probabilities (``*_logp_mean``) are derived from the sums and counts.
    """

    chosen_logp_sum: Tensor
    rejected_logp_sum: Tensor
    chosen_n_tokens: Tensor
    rejected_n_tokens: Tensor
    chosen_p_mean: Tensor
    rejected_p_mean: Tensor
    ref_chosen_logp_sum: Tensor | None = None
    ref_rejected_logp_sum: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.chosen_logp_sum.shape[0])

    @property
    def has_reference(self) -> bool:
        return self.ref_chosen_logp_sum is not None and self.ref_rejected_logp_sum is not None

    @property
    def chosen_logp_mean(self) -> Tensor:
        return self.chosen_logp_sum / self.chosen_n_tokens

    @property
    def rejected_logp_mean(self) -> Tensor:
        return self.rejected_logp_sum / self.rejected_n_tokens

    @property
    def ref_chosen_logp_mean(self) -> Tensor:
        return _require(self.ref_chosen_logp_sum, "ref_chosen_logp_sum") / self.chosen_n_tokens

    @property
    def ref_rejected_logp_mean(self) -> Tensor:
        return _require(self.ref_rejected_logp_sum, "ref_rejected_logp_sum") / self.rejected_n_tokens

    def present_fields(self) -> dict[str, Tensor]:
        """The fields that hold a tensor, by name."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }

    def without_reference(self) -> PairStats:
        return dataclasses.replace(self, ref_chosen_logp_sum=None, ref_rejected_logp_sum=None)

    def validate(self, loss_name: str) -> None:
        """Reject shapes that would broadcast silently and values that would poison a step.

        Raises ``ValueError`` naming the loss and the offending field.
        """
        fields = self.present_fields()
        if (self.ref_chosen_logp_sum is None) != (self.ref_rejected_logp_sum is None):
            raise ValueError(
                f"loss '{loss_name}': reference statistics must be given for both chosen and rejected "
                "(got only one of ref_chosen_logp_sum / ref_rejected_logp_sum)"
            )
        expected = tuple(self.chosen_logp_sum.shape)
        if len(expected) != 1 or expected[0] == 0:
            raise ValueError(
                f"loss '{loss_name}': field 'chosen_logp_sum' must have shape [batch] with batch >= 1, "
                f"got {list(expected)}"
            )
        for name, value in fields.items():
            if not isinstance(value, Tensor):
                raise ValueError(
                    f"loss '{loss_name}': field '{name}' must be a torch.Tensor, got {type(value)}"
                )
            if tuple(value.shape) != expected:
                raise ValueError(
                    f"loss '{loss_name}': field '{name}' has shape {list(value.shape)}, expected "
                    f"{list(expected)} like 'chosen_logp_sum'"
                )
            if not value.is_floating_point():
                raise ValueError(
                    f"loss '{loss_name}': field '{name}' must be a float tensor, got {value.dtype}"
                )
            bad = ~torch.isfinite(value.detach())
            if bool(bad.any()):
                index = int(bad.nonzero()[0, 0])
                raise NonFiniteError(
                    f"loss '{loss_name}': field '{name}' is not finite at pair {index} "
                    f"(value {value[index].item()})"
                )
        for name in ("chosen_n_tokens", "rejected_n_tokens"):
            if bool((fields[name].detach() <= 0).any()):
                raise ValueError(
                    f"loss '{loss_name}': field '{name}' must be > 0 (a response with no tokens?)"
                )
        for name in ("chosen_p_mean", "rejected_p_mean"):
            value = fields[name].detach()
            if bool(((value < 0) | (value > 1)).any()):
                raise ValueError(f"loss '{loss_name}': field '{name}' must lie in [0, 1]")


def _require(value: Tensor | None, name: str) -> Tensor:
    if value is None:
        raise ValueError(f"reference statistic '{name}' is missing")
    return value


def sequence_stats(logits: Tensor, labels: Tensor) -> SequenceStats:
    """Reduce causal-LM logits to per-sequence statistics over the labelled (response) tokens.

    ``logits`` is ``[n, T, V]`` and ``labels`` ``[n, T]`` aligned with the inputs, as Hugging Face models
    take them: the logit at position t predicts the label at t+1, and ``IGNORE_INDEX`` marks positions that
    are not scored. The log-softmax runs in float32 whatever the model's dtype, for stability.
    """
    if logits.dim() != 3 or labels.dim() != 2 or logits.shape[:2] != labels.shape:
        raise ValueError(
            f"logits must be [n, T, V] and labels [n, T] with the same n and T; "
            f"got logits {list(logits.shape)} and labels {list(labels.shape)}"
        )
    shifted_logits = logits[:, :-1, :].float()
    targets = labels[:, 1:]
    mask = targets != IGNORE_INDEX
    safe_targets = targets.masked_fill(~mask, 0)
    # log p(target) = logit[target] - logsumexp(logits): avoids materialising a second [n, T, V] tensor.
    target_logits = shifted_logits.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)
    token_logp = (target_logits - torch.logsumexp(shifted_logits, dim=-1)) * mask
    n_tokens = mask.sum(-1).to(token_logp.dtype)
    if bool((n_tokens == 0).any()):
        empty = int((n_tokens == 0).nonzero()[0, 0])
        raise ValueError(f"sequence {empty} has no labelled tokens: every label is {IGNORE_INDEX}")
    logp_sum = token_logp.sum(-1)
    p_mean = (token_logp.exp() * mask).sum(-1) / n_tokens
    return SequenceStats(logp_sum=logp_sum, n_tokens=n_tokens, p_mean=p_mean)


def split_pairs(policy: SequenceStats, reference_logp_sum: Tensor | None = None) -> PairStats:
    """Split statistics of a concatenated ``[chosen; rejected]`` batch into ``PairStats``.

    ``reference_logp_sum`` (shape ``[2 * batch]``, same row order) adds the reference sums.
    """
    n = policy.logp_sum.shape[0]
    if n % 2:
        raise ValueError(f"a concatenated chosen+rejected batch needs an even number of rows, got {n}")
    half = n // 2
    ref_chosen = ref_rejected = None
    if reference_logp_sum is not None:
        if reference_logp_sum.shape != policy.logp_sum.shape:
            shapes = f"{list(reference_logp_sum.shape)} vs policy {list(policy.logp_sum.shape)}"
            raise ValueError(f"reference sums and policy statistics differ in shape: {shapes}")
        reference_logp_sum = reference_logp_sum.detach().to(policy.logp_sum.dtype)
        ref_chosen, ref_rejected = reference_logp_sum[:half], reference_logp_sum[half:]
    return PairStats(
        chosen_logp_sum=policy.logp_sum[:half],
        rejected_logp_sum=policy.logp_sum[half:],
        chosen_n_tokens=policy.n_tokens[:half],
        rejected_n_tokens=policy.n_tokens[half:],
        chosen_p_mean=policy.p_mean[:half],
        rejected_p_mean=policy.p_mean[half:],
        ref_chosen_logp_sum=ref_chosen,
        ref_rejected_logp_sum=ref_rejected,
    )


def pair_stats_from_logits(
    logits: Tensor,
    labels: Tensor,
    ref_logits: Tensor | None = None,
) -> PairStats:
    """``PairStats`` from one forward pass over a concatenated ``[chosen; rejected]`` batch.

    ``ref_logits`` (same shape, from a frozen reference model) adds the reference sums; it is reduced
    without gradient.
    """
    policy = sequence_stats(logits, labels)
    reference = None
    if ref_logits is not None:
        with torch.no_grad():
            reference = sequence_stats(ref_logits, labels).logp_sum
    return split_pairs(policy, reference)


def log1mexp(x: Tensor) -> Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, stable at both ends (Mächler 2012)."""
    cut = -math.log(2.0)
    # Each branch gets an input clamped to its own range, so the branch torch.where discards never
    # produces inf/NaN (which would still poison the gradient).
    near_zero = torch.log(-torch.expm1(torch.clamp(x, min=cut)))
    far = torch.log1p(-torch.exp(torch.clamp(x, max=cut)))
    return torch.where(x > cut, near_zero, far)
