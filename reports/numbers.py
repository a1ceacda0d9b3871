"""The one number formatter of synpo-bench: every table (the report in all its formats, the end-of-run
summary) writes a number through these functions, so a value reads the same everywhere.

Quality values get about four significant digits on the usual metric scales (34.70, 123.5, 0.347); a
mean's interval half-width uses the mean's decimals. Costs carry their unit.
"""

from __future__ import annotations


def decimals_for(value: float) -> int:
    """Enough decimals for about four significant digits on the usual metric scales."""
    magnitude = abs(value)
    if magnitude >= 100:
        return 1
    if magnitude >= 1 or magnitude == 0:
        return 2
    return 3


def format_number(value: float) -> str:
    """A quality value: 34.70, 123.5, 0.347."""
    return f"{value:.{decimals_for(value)}f}"


def format_mean(mean: float, half_width: float | None, n: int) -> str:
    """A mean over ``n`` seeds: ``34.70 ± 1.20``, or ``34.70 (n=1)`` when one seed gives no interval."""
    decimals = decimals_for(mean)
    if n == 1 or half_width is None:
        return f"{mean:.{decimals}f} (n=1)"
    return f"{mean:.{decimals}f} ± {half_width:.{decimals}f}"


def format_cost(name: str, value: float) -> str:
    """A cost field with its unit: ``41.0 ms`` per step, ``4.1 s`` in total, ``400 MB``, ``1,350``."""
    if name == "time_per_step_s":
        return f"{value * 1000:.1f} ms"
    if name == "wall_clock_s":
        return f"{value:.1f} s"
    if name in ("peak_memory_mb", "peak_reserved_mb"):
        return f"{value:,.0f} MB"
    return f"{value:,.0f}"


def format_ratio(ratio: float) -> str:
    """A cost relative to the reference loss: ``(0.79x)``."""
    return f"({ratio:.2f}x)"


VERDICT_SHORT = {
    "better": "better",
    "worse": "worse",
    "no detectable difference": "n.s.",
    "too few items": "",
}
"""How a table cell says a comparison's verdict; "n.s." = no detectable difference (a note says so)."""


def format_difference(
    difference: float, low: float | None, high: float | None, verdict: str, paired: bool
) -> str:
    """A difference of two models: ``+1.23 ± 0.40 better`` (± half the interval's width), ``-0.10 ± 0.52
    n.s.``; ``unpaired`` when the items could not be paired."""
    if low is None or high is None:
        text = f"{difference:+.{decimals_for(difference)}f} (no interval)"
    else:
        half = (high - low) / 2
        decimals = decimals_for(max(abs(difference), half))
        text = f"{difference:+.{decimals}f} ± {half:.{decimals}f} {VERDICT_SHORT.get(verdict, verdict)}"
    return text if paired else f"{text} unpaired"
