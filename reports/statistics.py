"""Statistics over seeds: the mean with a 95% Student t-interval.

Seeds are few (often 2-5), so the interval uses Student's t quantile, not the normal 1.96, which would be
far too narrow. A single seed has a mean and no interval. The quantile is scipy's ``stdtrit``, the
function ``scipy.stats.t.ppf`` evaluates, imported from ``scipy.special`` because ``scipy.stats`` takes
a second to import on every ``synpo-bench`` start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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
