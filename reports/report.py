"""The ``Report``: one run summarised once, for every output format and the end-of-run summary.

``build_report(results)`` gathers the summaries over seeds (reports.summaries), the paired comparisons
with the baseline loss and the start (reports.paired, which also decides which means are bold) and, per
task, what the numbers need said beside them (``TaskInfo``: synthetic or real data, the judge, the
reference models, the starting model's quality) and its headline metrics (``headline_metrics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from synpo_bench.api.registry import UnknownNameError
from synpo_bench.api.tasks import get_task
from synpo_bench.reports.paired import Paired, paired_comparisons, significant_best
from synpo_bench.reports.results import REFERENCE_LOSS, Results
from synpo_bench.reports.statistics import INTERVAL_METHOD
from synpo_bench.reports.summaries import cost_summary, problem_cells, quality_summary, status_summary
from synpo_bench.reports.tuning import Tuning

WIN_RATE = "win_rate"
"""The quality metric comparing a trained model's captions with the starting model's (in %)."""
PREFERENCE_METRICS = (WIN_RATE, "tie_rate", "heldout_pref_accuracy", "heldout_pref_margin")
"""The engine-wide metrics of every task (run/evaluate.py): against the start, and on held-out pairs."""
LM_EVAL_PREFIX = "nlp:"
"""lm-eval metrics (``--nlp-tasks``) are named ``nlp:<task>/<metric>``."""
FALLBACK_HEADLINE = 3
"""Without a task's own headline, its first few metrics are its headline."""


@dataclass(frozen=True)
class TaskInfo:
    """What the report must say about a task's numbers besides the numbers."""

    name: str
    losses: list[str]
    metrics: list[str]
    synthetic: bool | None
    """True or False when every cell recorded the same; None when mixed or unrecorded."""
    data_label: str
    judge: str | None
    caption_metrics: str | None
    ref_modes: dict[str, str]
    memory_kind: str | None
    start: dict[str, float] = field(default_factory=dict)
    """The starting model's quality: every loss trains from it, so it is the bar to clear."""
    headline: list[str] = field(default_factory=list)
    """The task's headline metrics that were measured (``headline_metrics``)."""


@dataclass
class Report:
    """One run, summarised: what every output format renders."""

    run_id: str
    run_dir: Path
    tasks: list[TaskInfo]
    quality: pd.DataFrame
    cost: pd.DataFrame
    status: pd.DataFrame
    steps: pd.DataFrame
    problems: list[str]
    warnings: list[str]
    paired: Paired
    generated_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    interval_method: str = INTERVAL_METHOD
    tuning: Tuning | None = None
    """A tuned run's choices (``--tune``, reports.selection); None when every loss shared its settings."""

    def task(self, name: str) -> TaskInfo | None:
        return next((info for info in self.tasks if info.name == name), None)

    @property
    def mode(self) -> str:
        return "shared" if self.tuning is None else "tuned"


def build_report(results: Results, baseline_loss: str = REFERENCE_LOSS) -> Report:
    """``baseline_loss``: the loss every other is compared with, item by item (default dpo)."""
    quality = quality_summary(results)
    paired = paired_comparisons(results, baseline_loss)
    quality["best"] = significant_best(quality, paired)
    return Report(
        run_id=results.run_id,
        run_dir=results.run_dir,
        tasks=[_task_info(results, task) for task in results.tasks()],
        quality=quality,
        cost=cost_summary(results),
        status=status_summary(results),
        steps=results.steps,
        problems=problem_cells(results),
        warnings=[*results.warnings, *paired.warnings],
        paired=paired,
        tuning=results.tuning,
    )


MODE_LINES = {
    "shared": "mode: shared (every loss trained with the same hyper-parameters; `run --tune` tunes each)",
    "tuned": "mode: tuned (each loss at its best setting on a validation part of the evaluation items; "
    "task metrics, paired comparisons and the start on the other, test part; see each task's tuned "
    "settings)",
}


def header_lines(report: Report) -> list[str]:
    return [
        f"synpo-bench report: run {report.run_id} ({report.run_dir})",
        f"generated {report.generated_at}",
        MODE_LINES[report.mode],
    ]


def _task_info(results: Results, task: str) -> TaskInfo:
    cells = results.cells[results.cells["task"] == task]
    recorded = set(cells["synthetic"].dropna()) if "synthetic" in cells else set()
    return TaskInfo(
        name=task,
        losses=results.losses(task),
        metrics=results.quality_metrics(task),
        synthetic=next(iter(recorded)) if len(recorded) == 1 else None,
        data_label=_data_label(recorded),
        judge=_joined(cells, "judge"),
        caption_metrics=_joined(cells, "caption_metrics"),
        ref_modes={
            loss: _joined(cells[cells["loss"] == loss], "ref_mode") or "not recorded"
            for loss in results.losses(task)
        },
        memory_kind=_joined(cells, "memory_kind"),
        start=dict(results.start.get(task, {})),
        headline=headline_metrics(task, results.quality_metrics(task)),
    )


def headline_metrics(task: str, metrics: Sequence[str]) -> list[str]:
    """The task's own headline metrics that were measured (``TaskAdapter.headline``), or, when it declares
    none, its first few that are neither engine-wide preference metrics nor lm-eval ones."""
    try:
        wanted: Sequence[str] = get_task(task).headline
    except UnknownNameError:  # a plug-in task of an earlier invocation, not loaded now
        wanted = ()
    if not wanted:
        own = [m for m in metrics if m not in PREFERENCE_METRICS and not m.startswith(LM_EVAL_PREFIX)]
        wanted = own[:FALLBACK_HEADLINE]
    return [metric for metric in wanted if metric in metrics and metric != WIN_RATE]


def _data_label(recorded: set[object]) -> str:
    if recorded == {True}:
        return "SYNTHETIC (embedded procedural world)"
    if recorded == {False}:
        return "real benchmark data"
    if recorded:
        return "MIXED: some cells synthetic, some real"
    return "not recorded (synthetic or real unknown)"


def _joined(cells: pd.DataFrame, column: str) -> str | None:
    """The distinct recorded values of a column, or None when nothing was recorded."""
    if column not in cells:
        return None
    values = [str(v) for v in dict.fromkeys(cells[column].dropna())]
    return " / ".join(values) if values else None
