"""Every loss against its formula computed independently with plain ``math`` on small inputs.

Each expected value below is written from the published formula (cited in each loss's docstring), not
from the code under test; the first few are also worked out by hand in the comments.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

from synpo_bench.api.losses import get_loss, get_loss_spec, list_losses
from synpo_bench.api.stats import PairStats

# Two pairs. Sums, token counts and mean token probabilities, with reference sums.
S_W = [-6.0, -12.0]
S_L = [-9.0, -10.0]
N_W = [3.0, 6.0]
N_L = [3.0, 4.0]
P_W = [0.30, 0.20]
P_L = [0.15, 0.10]
REF_W = [-7.0, -11.0]
REF_L = [-8.0, -11.0]


def make_stats(with_reference: bool = True, **changes: list[float]) -> PairStats:
    values = {
        "chosen_logp_sum": S_W,
        "rejected_logp_sum": S_L,
        "chosen_n_tokens": N_W,
        "rejected_n_tokens": N_L,
        "chosen_p_mean": P_W,
        "rejected_p_mean": P_L,
        "ref_chosen_logp_sum": REF_W if with_reference else None,
        "ref_rejected_logp_sum": REF_L if with_reference else None,
    }
    values.update(changes)
    return PairStats(
        **{k: (torch.tensor(v, dtype=torch.float64) if v is not None else None) for k, v in values.items()}
    )


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def nls(x: float) -> float:  # -log sigmoid(x)
    return math.log1p(math.exp(-x))


def r(i: int) -> tuple[float, float]:
    return S_W[i] - REF_W[i], S_L[i] - REF_L[i]


def m(i: int) -> tuple[float, float]:
    return S_W[i] / N_W[i], S_L[i] / N_L[i]


def log_odds(mean_logp: float) -> float:
    p = math.exp(mean_logp)
    return math.log(p / (1 - p))


def expected_dpo(i: int, beta: float = 0.1, eps: float = 0.0) -> float:
    rw, rl = r(i)
    x = beta * (rw - rl)
    return (1 - eps) * nls(x) + eps * nls(-x)


def expected_ipo(i: int, tau: float = 0.1) -> float:
    h = (S_W[i] - REF_W[i]) / N_W[i] - (S_L[i] - REF_L[i]) / N_L[i]
    return (h - 1 / (2 * tau)) ** 2


def expected_simpo(i: int, beta: float = 2.0, gamma: float = 1.0) -> float:
    mw, ml = m(i)
    return nls(beta * mw - beta * ml - gamma)


def expected_orpo(i: int, lam: float = 0.1) -> float:
    mw, ml = m(i)
    return -mw + lam * nls(log_odds(mw) - log_odds(ml))


def expected_synpo(i: int, alpha: float = 30.0, beta: float = 0.2) -> float:
    mw, ml = m(i)
    return -sig(alpha * (math.exp(mw) - math.exp(ml))) - beta * P_W[i]


def expected_sft(i: int) -> float:
    return -m(i)[0]


def expected_hinge(i: int, delta: float = 1.0, lam: float = 0.0) -> float:
    return max(0.0, delta - S_W[i] + S_L[i]) - lam * m(i)[0]


def expected_rdpo(i: int, beta: float = 0.1, alpha: float = 0.01) -> float:
    # R-DPO: -log σ(βΔ + α(|y_w| - |y_l|)); the length gap is ADDED to the margin (Park et al. 2024).
    rw, rl = r(i)
    return nls(beta * (rw - rl) + alpha * (N_W[i] - N_L[i]))


def expected_dpop(i: int, beta: float = 0.1, lam: float = 50.0) -> float:
    rw, rl = r(i)
    return nls(beta * (rw - rl - lam * max(0.0, REF_W[i] - S_W[i])))


def expected_cpo(i: int, beta: float = 0.1, alpha: float = 1.0) -> float:
    return nls(beta * (S_W[i] - S_L[i])) - alpha * m(i)[0]


def expected_nca(i: int, beta: float = 0.1) -> float:
    rw, rl = r(i)
    return nls(beta * rw) + 0.5 * nls(-beta * rw) + 0.5 * nls(-beta * rl)


def expected_kto(i: int, beta: float = 0.1) -> float:
    mean_rw = sum(r(j)[0] for j in range(2)) / 2
    mean_rl = sum(r(j)[1] for j in range(2)) / 2
    z_w, z_l = max(0.0, mean_rw), max(0.0, mean_rl)
    rw, rl = r(i)
    return 0.5 * ((1 - sig(beta * (rw - z_l))) + (1 - sig(beta * (z_w - rl))))


def expected_apo_zero(i: int, beta: float = 0.1) -> float:
    rw, rl = r(i)
    return (1 - sig(beta * rw)) + sig(beta * rl)


EXPECTED = {
    "dpo": expected_dpo,
    "cdpo": lambda i: expected_dpo(i, eps=0.1),
    "ipo": expected_ipo,
    "simpo": expected_simpo,
    "orpo": expected_orpo,
    "synpo": expected_synpo,
    "sft": expected_sft,
    "hinge": expected_hinge,
    "rdpo": expected_rdpo,
    "dpop": expected_dpop,
    "cpo": expected_cpo,
    "nca": expected_nca,
    "kto": expected_kto,
    "apo_zero": expected_apo_zero,
}


def test_every_registered_loss_has_an_independent_check() -> None:
    assert sorted(EXPECTED) == list_losses()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_matches_formula(name: str) -> None:
    out = get_loss(name)(make_stats())
    expected = [EXPECTED[name](i) for i in range(2)]
    assert out.per_pair.tolist() == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert out.loss.item() == pytest.approx(sum(expected) / 2, rel=1e-9)
    assert out.loss.dim() == 0
    for key in ("reward_chosen", "reward_rejected", "margin", "accuracy", "negative_dominance"):
        assert isinstance(out.metrics[key], float)


def test_hand_worked_values() -> None:
    # DPO with equal log-ratios: -log σ(0) = log 2.
    stats = make_stats(
        chosen_logp_sum=[-5.0, -5.0],
        rejected_logp_sum=[-5.0, -5.0],
        ref_chosen_logp_sum=[-5.0, -5.0],
        ref_rejected_logp_sum=[-5.0, -5.0],
    )
    assert get_loss("dpo")(stats).loss.item() == pytest.approx(0.693147, abs=1e-6)
    # IPO with h = 0: (0 - 1/(2·0.1))² = 25.
    assert get_loss("ipo")(stats).loss.item() == pytest.approx(25.0)
    # SimPO with equal means: -log σ(-1) = log(1 + e) = 1.313262.
    equal_means = make_stats(
        chosen_logp_sum=[-6.0, -6.0],
        rejected_logp_sum=[-6.0, -6.0],
        chosen_n_tokens=[3.0, 3.0],
        rejected_n_tokens=[3.0, 3.0],
    )
    assert get_loss("simpo")(equal_means).loss.item() == pytest.approx(1.313262, abs=1e-6)
    # SynPO with equal geometric means: -σ(0) - 0.2·p_mean(w) = -0.5 - 0.2·0.3 = -0.56 (first pair).
    assert get_loss("synpo")(equal_means).per_pair[0].item() == pytest.approx(-0.56)
    # DPO pair 0 of the shared inputs: r(w) = 1, r(l) = -1, βΔ = 0.2: log(1 + e^-0.2) = 0.598139.
    assert get_loss("dpo")(make_stats()).per_pair[0].item() == pytest.approx(0.598139, abs=1e-6)


def test_rdpo_length_term_is_added_to_the_margin() -> None:
    """R-DPO (Park et al. 2024; SimPO's table of objectives): -log σ(βΔ + α(|y_w| - |y_l|)).

    Worked by hand on pair 1 of the shared inputs: r(w) = -12 - (-11) = -1, r(l) = -10 - (-11) = 1,
    so βΔ = 0.1 · (-2) = -0.2, and |y_w| - |y_l| = 6 - 4 = 2.
    """
    # α = 0.1: α · 2 = +0.2 cancels βΔ, so the loss is -log σ(0) = log 2 (a subtracted term gives
    # -log σ(-0.4) = log(1 + e^0.4) = 0.913015).
    assert get_loss("rdpo", alpha=0.1)(make_stats()).per_pair[1].item() == pytest.approx(0.693147, abs=1e-6)
    # Default α = 0.01: -log σ(-0.2 + 0.02) = log(1 + e^0.18) = 0.787192 (not log(1 + e^0.22) = 0.809185).
    assert get_loss("rdpo")(make_stats()).per_pair[1].item() == pytest.approx(0.787192, abs=1e-6)
    # Pair 0 has equal lengths (3 and 3): the length term vanishes and R-DPO is DPO, log(1 + e^-0.2).
    assert get_loss("rdpo", alpha=0.1)(make_stats()).per_pair[0].item() == pytest.approx(0.598139, abs=1e-6)
    # At equal log-ratios, a longer chosen response already earns margin: the loss falls with |y_w|.
    even = make_stats(chosen_logp_sum=REF_W, rejected_logp_sum=REF_L)
    longer = make_stats(chosen_logp_sum=REF_W, rejected_logp_sum=REF_L, chosen_n_tokens=[13.0, 14.0])
    assert get_loss("rdpo")(longer).loss.item() < get_loss("rdpo")(even).loss.item()


def test_overrides_change_the_formula() -> None:
    out = get_loss("simpo", beta=1.0, gamma=0.0)(make_stats())
    assert out.per_pair.tolist() == pytest.approx([expected_simpo(i, 1.0, 0.0) for i in range(2)])
    out = get_loss("synpo", alpha=10, beta=0.0)(make_stats())
    assert out.per_pair.tolist() == pytest.approx([expected_synpo(i, 10.0, 0.0) for i in range(2)])


# Hinge is flat once the margin exceeds δ; a wide δ puts both pairs where the gradient is alive.
ACTIVE_REGION = {"hinge": {"delta": 10.0}}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_falls_when_chosen_logprob_rises(name: str) -> None:
    base = make_stats()
    # Shift every chosen token log-prob up by δ: sum moves n·δ, mean by δ, mean probability by e^δ.
    delta = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    shifted = PairStats(
        **{
            **base.present_fields(),
            "chosen_logp_sum": base.chosen_logp_sum + base.chosen_n_tokens * delta,
            "chosen_p_mean": base.chosen_p_mean * torch.exp(delta),
        }
    )
    overrides = ACTIVE_REGION.get(name, {})
    loss = get_loss(name, diagnostics=False, **overrides)(shifted).loss
    (grad,) = torch.autograd.grad(loss, delta)
    assert (grad < 0).all(), f"{name}: d loss / d chosen log-prob = {grad.tolist()}"
    with torch.no_grad():
        raised = make_stats(
            chosen_logp_sum=[s + 0.3 * n for s, n in zip(S_W, N_W, strict=True)],
            chosen_p_mean=[p * math.exp(0.3) for p in P_W],
        )
    assert get_loss(name, **overrides)(raised).loss.item() < get_loss(name, **overrides)(base).loss.item()


@pytest.mark.parametrize("name", [n for n in sorted(EXPECTED) if n != "sft"])
def test_loss_falls_when_rejected_logprob_falls(name: str) -> None:
    lowered = make_stats(
        rejected_logp_sum=[s - 0.5 * n for s, n in zip(S_L, N_L, strict=True)],
        rejected_p_mean=[p * math.exp(-0.5) for p in P_L],
    )
    loss = get_loss(name, **ACTIVE_REGION.get(name, {}))
    assert loss(lowered).loss.item() < loss(make_stats()).loss.item()


@pytest.mark.parametrize("name", [n for n in list_losses() if not get_loss_spec(n).needs_reference])
def test_reference_free_losses_ignore_reference(name: str) -> None:
    with_ref = get_loss(name)(make_stats())
    other_ref = get_loss(name)(
        make_stats(ref_chosen_logp_sum=[-100.0, 3.0], ref_rejected_logp_sum=[7.0, -1.0])
    )
    without = get_loss(name)(make_stats(with_reference=False))
    assert with_ref.per_pair.tolist() == without.per_pair.tolist() == other_ref.per_pair.tolist()
    assert with_ref.metrics == without.metrics


def test_reference_needs_are_the_published_ones() -> None:
    needs = {name: get_loss_spec(name).needs_reference for name in list_losses()}
    assert {n for n, v in needs.items() if v} == {
        "dpo",
        "cdpo",
        "ipo",
        "rdpo",
        "dpop",
        "nca",
        "kto",
        "apo_zero",
    }


@pytest.mark.parametrize("name", [n for n in list_losses() if get_loss_spec(n).needs_reference])
def test_missing_reference_is_a_clear_error(name: str) -> None:
    with pytest.raises(ValueError, match=f"loss '{name}' needs reference"):
        get_loss(name)(make_stats(with_reference=False))


def test_published_defaults() -> None:
    assert dict(get_loss_spec("dpo").defaults) == {"beta": 0.1, "label_smoothing": 0.0}
    assert dict(get_loss_spec("ipo").defaults) == {"tau": 0.1}
    assert dict(get_loss_spec("simpo").defaults) == {"beta": 2.0, "gamma": 1.0}
    assert dict(get_loss_spec("orpo").defaults) == {"lam": 0.1}
    assert dict(get_loss_spec("synpo").defaults) == {"alpha": 30.0, "beta": 0.2}
    for name in list_losses():
        assert re.search(r"\b(19|20)\d\d\b", get_loss_spec(name).citation), f"{name}: citation needs a year"
        assert get_loss_spec(name).summary, f"{name}: the docstring's first line is its summary"


def test_metrics_are_the_rewards_each_loss_compares() -> None:
    out = get_loss("dpo")(make_stats())
    # β·r: pair 0 (0.1, -0.1), pair 1 (-0.1, 0.1)
    assert out.metrics["reward_chosen"] == pytest.approx(0.0)
    assert out.metrics["margin"] == pytest.approx((0.2 - 0.2) / 2)
    assert out.metrics["accuracy"] == pytest.approx(0.5)
    simpo = get_loss("simpo")(make_stats())
    assert simpo.metrics["reward_chosen"] == pytest.approx(2.0 * (-2.0 + -2.0) / 2)
    assert simpo.metrics["accuracy"] == pytest.approx(1.0)  # m(w) > m(l) in both: -2 > -3, -2 > -2.5


def test_negative_dominance_dpo_vs_synpo() -> None:
    # A rejected response that is already very unlikely: DPO keeps pulling it down (gradient in probability
    # space grows like 1/P), SynPO's bounded sigmoid saturates.
    stats = make_stats(
        rejected_logp_sum=[-30.0, -40.0],
        rejected_p_mean=[0.001, 0.0005],
        ref_rejected_logp_sum=[-30.0, -40.0],
    )
    dpo = get_loss("dpo")(stats).metrics
    synpo = get_loss("synpo")(stats).metrics
    assert dpo["negative_dominance"] > 0.99
    assert synpo["negative_dominance"] < dpo["negative_dominance"]
    # By hand for DPO pair 0: ∂L/∂δ_w = -β n_w σ(-βΔ), ∂L/∂δ_l = +β n_l σ(-βΔ); divided by P = e^m.
    beta, (rw, rl) = 0.1, (S_W[0] - REF_W[0], 0.0)
    weight = sig(-beta * (rw - rl))
    pull_w0 = beta * N_W[0] * weight / math.exp(S_W[0] / N_W[0])
    pull_l0 = beta * N_L[0] * weight / math.exp(-30.0 / N_L[0])
    rw1 = S_W[1] - REF_W[1]
    weight1 = sig(-beta * rw1)
    pull_w1 = beta * N_W[1] * weight1 / math.exp(S_W[1] / N_W[1])
    pull_l1 = beta * N_L[1] * weight1 / math.exp(-40.0 / N_L[1])
    assert dpo["grad_chosen"] == pytest.approx((pull_w0 + pull_w1) / 2, rel=1e-6)
    assert dpo["grad_rejected"] == pytest.approx((pull_l0 + pull_l1) / 2, rel=1e-6)
