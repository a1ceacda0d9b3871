"""The statistics helper against a brute-force per-token loop, and the input checks."""

from __future__ import annotations

import math

import pytest
import torch

from synpo_bench.api.losses import get_loss
from synpo_bench.api.stats import IGNORE_INDEX, PairStats, log1mexp, pair_stats_from_logits, sequence_stats


def brute_force(logits: torch.Tensor, labels: torch.Tensor) -> list[tuple[float, int, float]]:
    """Per sequence: (sum of log p, token count, mean p), one token at a time with plain math."""
    rows = []
    for b in range(labels.shape[0]):
        total, count, prob_total = 0.0, 0, 0.0
        for t in range(1, labels.shape[1]):
            target = int(labels[b, t])
            if target == IGNORE_INDEX:
                continue
            row = [float(v) for v in logits[b, t - 1]]
            log_z = math.log(sum(math.exp(v) for v in row))
            logp = row[target] - log_z
            total += logp
            prob_total += math.exp(logp)
            count += 1
        rows.append((total, count, prob_total / count))
    return rows


def random_batch(
    seed: int, n: int = 4, length: int = 7, vocab: int = 11
) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, length, vocab, generator=generator) * 3
    labels = torch.randint(0, vocab, (n, length), generator=generator)
    labels[:, :2] = IGNORE_INDEX  # prompt
    labels[1, 5:] = IGNORE_INDEX  # padding on a shorter row
    labels[2, 3] = IGNORE_INDEX  # a masked token in the middle
    return logits, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sequence_stats_matches_token_loop(seed: int) -> None:
    logits, labels = random_batch(seed)
    stats = sequence_stats(logits, labels)
    expected = brute_force(logits, labels)
    assert stats.logp_sum.tolist() == pytest.approx([e[0] for e in expected], rel=1e-5)
    assert stats.n_tokens.tolist() == [e[1] for e in expected]
    assert stats.p_mean.tolist() == pytest.approx([e[2] for e in expected], rel=1e-5)
    assert stats.logp_mean.tolist() == pytest.approx([e[0] / e[1] for e in expected], rel=1e-5)


def test_half_precision_logits_are_reduced_in_float32() -> None:
    logits, labels = random_batch(3)
    stats = sequence_stats(logits.to(torch.bfloat16), labels)
    assert stats.logp_sum.dtype == torch.float32
    expected = brute_force(logits.to(torch.bfloat16).float(), labels)
    assert stats.logp_sum.tolist() == pytest.approx([e[0] for e in expected], rel=1e-4)


def test_pair_split_chosen_first_then_rejected() -> None:
    logits, labels = random_batch(4)
    ref_logits = logits.flip(-1)
    pairs = pair_stats_from_logits(logits, labels, ref_logits=ref_logits)
    expected = brute_force(logits, labels)
    expected_ref = brute_force(ref_logits, labels)
    assert pairs.batch_size == 2
    assert pairs.chosen_logp_sum.tolist() == pytest.approx([expected[0][0], expected[1][0]], rel=1e-5)
    assert pairs.rejected_logp_sum.tolist() == pytest.approx([expected[2][0], expected[3][0]], rel=1e-5)
    assert pairs.rejected_n_tokens.tolist() == [expected[2][1], expected[3][1]]
    assert pairs.ref_rejected_logp_sum.tolist() == pytest.approx(
        [expected_ref[2][0], expected_ref[3][0]], rel=1e-5
    )
    assert not pairs.ref_chosen_logp_sum.requires_grad


def test_gradient_flows_from_a_loss_to_the_logits() -> None:
    logits, labels = random_batch(5)
    logits.requires_grad_(True)
    out = get_loss("synpo")(pair_stats_from_logits(logits, labels))
    out.loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    # Masked positions get no gradient: row 1 is padded from label 5, so logits 4.. are unused.
    assert logits.grad[1, 4:].abs().sum() == 0


def test_odd_batch_and_empty_rows_are_rejected() -> None:
    logits, labels = random_batch(6, n=3)
    with pytest.raises(ValueError, match="even number of rows"):
        pair_stats_from_logits(logits, labels)
    logits, labels = random_batch(6)
    labels[3, :] = IGNORE_INDEX
    with pytest.raises(ValueError, match="sequence 3 has no labelled tokens"):
        sequence_stats(logits, labels)
    with pytest.raises(ValueError, match="logits must be"):
        sequence_stats(logits[:, :-1], labels)


def make_pairs(**changes: list[float]) -> PairStats:
    values = {
        "chosen_logp_sum": [-3.0, -4.0],
        "rejected_logp_sum": [-5.0, -6.0],
        "chosen_n_tokens": [2.0, 2.0],
        "rejected_n_tokens": [2.0, 3.0],
        "chosen_p_mean": [0.3, 0.2],
        "rejected_p_mean": [0.1, 0.1],
    }
    values.update(changes)
    return PairStats(**{k: torch.tensor(v) for k, v in values.items()})


def test_non_finite_statistics_name_loss_and_field() -> None:
    with pytest.raises(ValueError, match=r"loss 'simpo': field 'rejected_logp_sum' is not finite at pair 1"):
        get_loss("simpo")(make_pairs(rejected_logp_sum=[-5.0, float("nan")]))
    with pytest.raises(ValueError, match=r"loss 'dpo': field 'ref_chosen_logp_sum' is not finite"):
        get_loss("dpo")(
            PairStats(
                **make_pairs().present_fields(),
                ref_chosen_logp_sum=torch.tensor([float("-inf"), 0.0]),
                ref_rejected_logp_sum=torch.tensor([0.0, 0.0]),
            )
        )


def test_mismatched_shapes_are_rejected_not_broadcast() -> None:
    with pytest.raises(ValueError, match=r"field 'chosen_p_mean' has shape \[1\], expected \[2\]"):
        get_loss("synpo")(make_pairs(chosen_p_mean=[0.3]))
    with pytest.raises(ValueError, match="must have shape"):
        get_loss("synpo")(PairStats(**{k: v.reshape(1, 2) for k, v in make_pairs().present_fields().items()}))


def test_impossible_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="'rejected_n_tokens' must be > 0"):
        get_loss("orpo")(make_pairs(rejected_n_tokens=[2.0, 0.0]))
    with pytest.raises(ValueError, match=r"'chosen_p_mean' must lie in \[0, 1\]"):
        get_loss("synpo")(make_pairs(chosen_p_mean=[1.5, 0.2]))


@pytest.mark.parametrize("x", [-1e-8, -0.1, -0.6931, -0.7, -5.0, -50.0])
def test_log1mexp(x: float) -> None:
    value = log1mexp(torch.tensor([x], dtype=torch.float64)).item()
    assert value == pytest.approx(math.log(-math.expm1(x)), rel=1e-9)


def test_log1mexp_gradient_is_finite_at_both_ends() -> None:
    x = torch.tensor([-1e-6, -100.0], dtype=torch.float64, requires_grad=True)
    log1mexp(x).sum().backward()
    assert torch.isfinite(x.grad).all()
