"""The shared resample of paired comparisons (reports/statistics.shared_differences), checked against
scipy.stats.bootstrap (one seed) and the pair-by-pair two-level bootstrap (several seeds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import bootstrap

from synpo_bench.reports.paired import _compare, _comparisons
from synpo_bench.reports.statistics import (
    BOOTSTRAP_SEED,
    CONFIDENCE,
    N_RESAMPLES,
    bootstrap_difference,
    shared_differences,
)


def _values(seed: int, n_seeds: int, n_items: int = 300, shift: float = 0.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(shift, 1.0, n_items) for _ in range(n_seeds)]


def test_one_seed_is_scipys_paired_percentile_bootstrap() -> None:
    a, b = _values(1, 1, shift=0.2), _values(2, 1)
    found = shared_differences({"a": a, "b": b}, [("a", "b")])[("a", "b")]
    scipy = bootstrap(
        (a[0], b[0]),
        lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=N_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        random_state=np.random.default_rng(BOOTSTRAP_SEED),
    ).confidence_interval
    assert found.difference == pytest.approx(a[0].mean() - b[0].mean(), abs=1e-12)
    assert (found.low, found.high) == pytest.approx((scipy.low, scipy.high), abs=1e-12)
    assert (found.paired, found.n_items, found.n_seeds) == (True, 300, 1)


def test_several_seeds_agree_with_the_pair_by_pair_two_level_bootstrap() -> None:
    a, b = _values(3, 4, shift=0.15), _values(4, 4)
    found = shared_differences({"a": a, "b": b}, [("a", "b")])[("a", "b")]
    alone = bootstrap_difference(a, b, paired=True)
    assert found.difference == pytest.approx(alone.difference, abs=1e-12)
    assert alone.low is not None and alone.high is not None and found.low is not None
    width = alone.high - alone.low
    # Two resamplings of one procedure: the endpoints differ by Monte Carlo error only.
    assert abs(found.low - alone.low) < 0.1 * width
    assert abs(found.high - alone.high) < 0.1 * width  # type: ignore[operator]


def test_a_pair_does_not_depend_on_the_other_models_in_the_call() -> None:
    models = {name: _values(seed, 3) for seed, name in enumerate(("a", "b", "c", "d"))}
    together = shared_differences(models, [("a", "b"), ("c", "d"), ("b", "d")])
    alone = shared_differences({"a": models["a"], "b": models["b"]}, [("a", "b")])
    assert together[("a", "b")] == alone[("a", "b")]


def test_identical_models_differ_by_exactly_zero() -> None:
    values = _values(5, 2)
    found = shared_differences({"a": values, "b": [v.copy() for v in values]}, [("a", "b")])[("a", "b")]
    assert (found.difference, found.low, found.high) == (0.0, 0.0, 0.0)


def test_a_known_shift_is_inside_its_interval_and_the_sign_is_right() -> None:
    base = _values(6, 3, n_items=2000)
    shifted = [v + 0.5 for v in base]  # paired: the difference is exactly 0.5 on every item
    rng = np.random.default_rng(7)
    noisy = [v + rng.normal(0.5, 1.0, v.shape) for v in base]
    found = shared_differences({"base": base, "shifted": shifted, "noisy": noisy}, [("shifted", "base")])
    exact = found[("shifted", "base")]
    assert exact.low == pytest.approx(0.5) and exact.high == pytest.approx(0.5)
    noisy_found = shared_differences({"noisy": noisy, "base": base}, [("noisy", "base")])[("noisy", "base")]
    assert noisy_found.verdict == "better" and noisy_found.low < 0.5 < noisy_found.high  # type: ignore[operator]


def test_too_few_items_give_no_interval() -> None:
    found = shared_differences({"a": [np.array([1.0])], "b": [np.array([0.0])]}, [("a", "b")])[("a", "b")]
    assert (found.difference, found.low, found.high) == (1.0, None, None)
    several = shared_differences(
        {"a": [np.array([1.0]), np.array([3.0])], "b": [np.array([0.0])] * 2}, [("a", "b")]
    )[("a", "b")]
    assert several.difference == 2.0 and several.low is not None  # several seeds: one item is enough


def _series(seed: int, items: list[str]) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(size=len(items)), index=items)


def test_report_comparisons_share_one_resample_only_when_seeds_and_items_line_up() -> None:
    items = [f"clip{i}" for i in range(50)]
    start = _series(0, items)
    values = {
        "dpo": {0: _series(1, items), 1: _series(2, items)},
        "synpo": {0: _series(3, items[::-1]), 1: _series(4, items)},  # same items, another order
    }
    pairwise, against_start = _comparisons(values, start)
    aligned = shared_differences(
        {
            "dpo": [values["dpo"][s].to_numpy() for s in (0, 1)],
            "synpo": [values["synpo"][s].reindex(items).to_numpy() for s in (0, 1)],
            "start": [start.to_numpy()] * 2,
        },
        [("dpo", "synpo"), ("synpo", "start")],
    )
    assert pairwise[("dpo", "synpo")] == aligned[("dpo", "synpo")]
    assert pairwise[("synpo", "dpo")] == aligned[("dpo", "synpo")].mirrored()
    assert against_start["synpo"] == aligned[("synpo", "start")]

    del values["synpo"][1]  # synpo lacks seed 1: each pair over the seeds it has, as before
    pairwise, against_start = _comparisons(values, start)
    assert pairwise[("dpo", "synpo")] == _compare(values["dpo"], values["synpo"])
    assert against_start["dpo"] == _compare(values["dpo"], start)
    assert pairwise[("dpo", "synpo")].n_seeds == 1 and against_start["dpo"].n_seeds == 2
