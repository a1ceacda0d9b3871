"""Statistics over seeds: the mean with a 95% Student t-interval; and the bootstrap interval of the
difference between two models over evaluation items: ``shared_differences`` for every pair of models
evaluated on the same items and seeds (one resample for all of them), ``bootstrap_difference`` for one pair,
paired or not.

Seeds are few (often 2-5), so the interval uses Student's t quantile, not the normal 1.96, which would be
far too narrow. A single seed has a mean and no interval. The quantile is scipy's ``stdtrit``, the
function ``scipy.stats.t.ppf`` evaluates, imported from ``scipy.special`` because ``scipy.stats`` takes
a second to import on every ``synpo-bench`` start.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import stdtrit

CONFIDENCE = 0.95
INTERVAL_METHOD = (
    "mean ± 95% Student t-interval over seeds: t(0.975, n-1)·s/√n with s the sample standard deviation; "
    "n=1: mean only, no interval"
)


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with the half-width of its confidence interval (None when n < 2)."""

    mean: float
    half_width: float | None
    n: int
    std: float | None

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Student t-interval of the mean of ``values``, NaNs left out."""
    data = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    n = len(data)
    if n == 0:
        return Interval(math.nan, None, 0, None)
    if n == 1:
        return Interval(float(data[0]), None, 1, None)
    std = float(data.std(ddof=1))
    half = student_t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Interval(float(data.mean()), half, n, std)


def student_t_quantile(probability: float, df: int) -> float:
    """The ``probability`` quantile of Student's t with ``df`` degrees of freedom."""
    if not 0.5 <= probability < 1 or df < 1:
        raise ValueError("student_t_quantile needs 0.5 <= probability < 1 and df >= 1")
    return float(stdtrit(df, probability))


N_RESAMPLES = 4000
BOOTSTRAP_SEED = 12345
"""A fixed seed: the same results folder always gives the same intervals."""
BOOTSTRAP_METHOD = (
    "difference of means over evaluation items (averaged over seeds) with a 95% percentile bootstrap "
    f"interval, {N_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}: paired (the same items resampled for both "
    "models; several seeds: seeds resampled, then each drawn seed's items), one resample shared by every "
    "model of a metric; unpaired (items differ): each side's items resampled on its own"
)
RESAMPLE_CHUNK = 256
"""Replicates resampled at a time by ``shared_differences``: bounds its memory (a chunk's item counts)."""

Verdict = Literal["better", "worse", "no detectable difference", "too few items"]


@dataclass(frozen=True)
class Difference:
    """``a - b`` averaged over seeds, with its 95% bootstrap interval (None with fewer than 2 items)."""

    difference: float
    low: float | None
    high: float | None
    paired: bool
    n_items: int
    n_seeds: int

    @property
    def verdict(self) -> Verdict:
        if self.low is None or self.high is None:
            return "too few items"
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "no detectable difference"

    def mirrored(self) -> Difference:
        """``b - a``: the same interval, negated."""
        flip = 0.0 - self.difference  # 0.0 - x: never a printed "-0.00"
        if self.low is None or self.high is None:
            return Difference(flip, None, None, self.paired, self.n_items, self.n_seeds)
        return Difference(flip, 0.0 - self.high, 0.0 - self.low, self.paired, self.n_items, self.n_seeds)


def bootstrap_difference(
    a: Sequence[np.ndarray], b: Sequence[np.ndarray], *, paired: bool, seed: int = BOOTSTRAP_SEED
) -> Difference:
    """Mean over seeds of mean(a[s]) - mean(b[s]), a[s] and b[s] the item values of seed s.

    Paired: a[s] and b[s] are aligned (item i of both is the same evaluation item), and one resample of
    items serves both. Unpaired: each side's items are resampled on their own. One seed: scipy's
    ``bootstrap`` (``paired=``, percentile method); several: a two-level resampling scipy does not offer
    (seeds with replacement, then each drawn seed's items with replacement), with a numpy Generator.
    """
    point = float(np.mean([np.mean(x) - np.mean(y) for x, y in zip(a, b, strict=True)]))
    n_items = min(min(len(x) for x in a), min(len(y) for y in b))
    result = (point, None, None)
    if len(a) == 1 and n_items >= 2:
        result = (point, *_scipy_interval(a[0], b[0], paired, seed))
    elif len(a) > 1 and n_items >= 1:
        result = (point, *_two_level_interval(a, b, paired, seed))
    return Difference(result[0], result[1], result[2], paired, n_items, len(a))


def _scipy_interval(a: np.ndarray, b: np.ndarray, paired: bool, seed: int) -> tuple[float, float]:
    # scipy.stats takes about a second to import: only a report with per-item scores pays for it.
    from scipy.stats import bootstrap

    def difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    found = bootstrap(
        (a, b),
        difference,
        paired=paired,
        vectorized=True,
        n_resamples=N_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return float(found.confidence_interval.low), float(found.confidence_interval.high)


def _two_level_interval(
    a: Sequence[np.ndarray], b: Sequence[np.ndarray], paired: bool, seed: int
) -> tuple[float, float]:
    """Percentile interval of: seeds drawn with replacement, each drawn seed's items redrawn."""
    rng = np.random.default_rng(seed)
    n_seeds = len(a)
    drawn = rng.integers(n_seeds, size=(N_RESAMPLES, n_seeds))
    # Per seed, a fresh item resample for every (replicate, position) that may draw it.
    means = np.empty((n_seeds, N_RESAMPLES, n_seeds))
    for s in range(n_seeds):
        if paired:
            means[s] = _resampled_means(a[s] - b[s], rng, n_seeds)
        else:
            means[s] = _resampled_means(a[s], rng, n_seeds) - _resampled_means(b[s], rng, n_seeds)
    replicate, position = np.indices(drawn.shape)
    statistic = means[drawn, replicate, position].mean(axis=1)
    low, high = np.percentile(statistic, [50 * (1 - CONFIDENCE), 50 * (1 + CONFIDENCE)])
    return float(low), float(high)


def _resampled_means(values: np.ndarray, rng: np.random.Generator, n_seeds: int) -> np.ndarray:
    """Shape (N_RESAMPLES, n_seeds): means of ``values`` resampled with replacement, each one fresh."""
    picks = rng.integers(len(values), size=(N_RESAMPLES, n_seeds, len(values)), dtype=np.int32)
    return np.asarray(values, dtype=float)[picks].mean(axis=-1)


def shared_differences(
    models: Mapping[str, Sequence[np.ndarray]],
    pairs: Iterable[tuple[str, str]],
    *,
    seed: int = BOOTSTRAP_SEED,
) -> dict[tuple[str, str], Difference]:
    """Paired ``a - b`` for every ``(a, b)`` of ``pairs``, each as ``bootstrap_difference`` defines it.

    ``models[m][s]``: model m's item values in seed s, the same items in the same order for every model
    and seed (a model evaluated once, like the start, repeats its one array for every seed). The resample
    (seeds drawn, then each drawn seed's items) is the same for every model, so a model's replicate means
    are computed once and a pair costs a subtraction: a paired difference of means is linear in the values.
    Written here rather than with ``scipy.stats.bootstrap``, which resamples on every call, so that a
    report's cost grows with the models and not with the pairs of models (14 losses and 5 seeds: 105 pairs
    per metric).
    """
    names = list(models)
    stack = np.stack([np.stack([np.asarray(v, dtype=float) for v in models[m]]) for m in names], axis=-1)
    n_seeds, n_items, _ = stack.shape
    enough = n_items >= (2 if n_seeds == 1 else 1)
    replicates = _replicate_means(stack, seed) if enough else None
    found: dict[tuple[str, str], Difference] = {}
    for a, b in pairs:
        i, j = names.index(a), names.index(b)
        point = float(np.mean(stack[..., i].mean(axis=1) - stack[..., j].mean(axis=1)))
        low = high = None
        if replicates is not None:
            tails = [50 * (1 - CONFIDENCE), 50 * (1 + CONFIDENCE)]
            low, high = (float(v) for v in np.percentile(replicates[:, i] - replicates[:, j], tails))
        found[(a, b)] = Difference(point, low, high, True, n_items, n_seeds)
    return found


def _replicate_means(stack: np.ndarray, seed: int) -> np.ndarray:
    """``[N_RESAMPLES, models]``: each replicate's mean over resampled seeds of resampled item means.

    ``stack`` is ``[seeds, items, models]``. Replicate r draws ``seeds`` seeds with replacement and, for
    each drawn one, a fresh resample of its items; a resample is a row of item counts, so every model's
    mean over it is one matrix product.
    """
    n_seeds, n_items, n_models = stack.shape
    rng = np.random.default_rng(seed)
    drawn = rng.integers(n_seeds, size=(N_RESAMPLES, n_seeds))
    out = np.empty((N_RESAMPLES, n_models))
    for start in range(0, N_RESAMPLES, RESAMPLE_CHUNK):
        seeds = drawn[start : start + RESAMPLE_CHUNK].ravel()  # one row per (replicate, position)
        picks = rng.integers(n_items, size=(len(seeds), n_items))
        offsets = np.arange(len(seeds))[:, None] * n_items
        counts = np.bincount((picks + offsets).ravel(), minlength=len(seeds) * n_items)
        counts = counts.reshape(len(seeds), n_items).astype(float)
        means = np.empty((len(seeds), n_models))
        for s in range(n_seeds):
            rows = seeds == s
            means[rows] = counts[rows] @ stack[s] / n_items
        out[start : start + RESAMPLE_CHUNK] = means.reshape(-1, n_seeds, n_models).mean(axis=1)
    return out
