"""Figures for the HTML report, drawn with matplotlib's Agg canvas and returned as PNG bytes.

Figures are built with ``matplotlib.figure.Figure`` on an explicit Agg canvas rather than through
pyplot, so no global state or display backend is touched (safe in tests, threads and headless CI).
"""

from __future__ import annotations

import base64
import io
import math

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

CURVE_PANELS = (("loss", "training loss"), ("margin", "reward margin (chosen - rejected)"))
MAX_SCATTER_PANELS = 4
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def loss_colors(losses: list[str]) -> dict[str, str]:
    """The same colour for a loss in every figure of a report."""
    return {loss: _PALETTE[i % len(_PALETTE)] for i, loss in enumerate(losses)}


def training_curves_png(steps: pd.DataFrame, task: str, losses: list[str]) -> bytes | None:
    """Loss and margin against step per loss: the mean over done seeds (band: their min..max), and each
    cell that is not done (failed, still running) as its own dotted line, so a divergence stays visible.
    """
    rows = steps[steps["task"] == task] if "task" in steps else steps.iloc[0:0]
    panels = [(metric, label) for metric, label in CURVE_PANELS if (rows["metric"] == metric).any()]
    if not panels:
        return None
    figure = Figure(figsize=(5.5 * len(panels), 3.6), layout="constrained")
    colors = loss_colors(losses)
    for index, (metric, label) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        for loss in losses:
            selected = rows[(rows["loss"] == loss) & (rows["metric"] == metric)]
            _plot_done_mean(axes, selected[selected["status"] == "done"], loss, colors[loss])
            for (seed, status), cell in selected[selected["status"] != "done"].groupby(["seed", "status"]):
                axes.plot(
                    cell["step"],
                    cell["value"],
                    linestyle=":",
                    linewidth=1,
                    color=colors[loss],
                    label=f"{loss} seed{seed} ({status})",
                )
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("optimizer step")
        axes.set_ylabel(label)
        axes.set_title(f"{task}: {label}")
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small")
    return _png(figure)


def _plot_done_mean(axes: Axes, rows: pd.DataFrame, loss: str, color: str) -> None:
    per_step = rows.groupby("step")["value"].agg(["mean", "min", "max", "count"])
    if per_step.empty:
        return
    seeds = rows["seed"].nunique()
    axes.plot(
        per_step.index,
        per_step["mean"],
        color=color,
        linewidth=1.6,
        label=f"{loss} (mean of {seeds} done seed{'s' if seeds > 1 else ''})",
    )
    if seeds > 1:
        axes.fill_between(per_step.index, per_step["min"], per_step["max"], color=color, alpha=0.15)


def time_panels(quality: pd.DataFrame, task: str, metrics: list[str]) -> list[str]:
    """The metrics a quality-vs-time figure draws: those of ``metrics`` with a done seed, the first few."""
    scores = quality[(quality["task"] == task) & (quality["n"] > 0)]
    return [m for m in metrics if (scores["metric"] == m).any()][:MAX_SCATTER_PANELS]


def quality_vs_time_png(
    quality: pd.DataFrame,
    cost: pd.DataFrame,
    task: str,
    metrics: list[str],
    losses: list[str],
    start: dict[str, float] | None = None,
) -> bytes | None:
    """Quality (mean ± CI) against mean wall-clock per loss, one panel per metric of ``time_panels`` (the
    report passes the task's headline metrics); a dashed line at the starting model's value."""
    wall = cost[(cost["task"] == task) & (cost["field"] == "wall_clock_s")].set_index("loss")["mean"]
    scores = quality[quality["task"] == task]
    shown = time_panels(quality, task, metrics)
    if not shown or wall.dropna().empty:
        return None
    figure = Figure(figsize=(4.4 * len(shown), 3.6), layout="constrained")
    colors = loss_colors(losses)
    for index, metric in enumerate(shown, start=1):
        axes = figure.add_subplot(1, len(shown), index)
        for row in scores[scores["metric"] == metric].itertuples():
            seconds = wall.get(row.loss, math.nan)
            if row.n == 0 or math.isnan(seconds):
                continue
            error = 0.0 if row.ci_half is None or math.isnan(row.ci_half) else row.ci_half
            axes.errorbar(seconds, row.mean, yerr=error, fmt="o", color=colors[row.loss], capsize=3)
            axes.annotate(
                row.loss, (seconds, row.mean), textcoords="offset points", xytext=(5, 4), fontsize="small"
            )
        if start and metric in start:
            axes.axhline(start[metric], color="#555555", linestyle="--", linewidth=1, label="start")
            axes.legend(fontsize="small", loc="best")
        axes.set_xlabel("wall-clock per cell (s, mean over seeds)")
        axes.set_ylabel(metric)
        axes.set_title(f"{task}: {metric} vs wall-clock")
        axes.grid(alpha=0.3)
    return _png(figure)


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI, so the HTML page is one self-contained file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)  # attaches the Agg canvas; savefig then renders through it
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
