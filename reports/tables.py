"""Quality and cost tables of one run, in five formats: rich (terminal), markdown, CSV, JSON and HTML.

Every format is drawn from the same ``Report`` and the same ``Grid`` of formatted cells, so a number
reads the same in all of them. Quality: one table per task, rows = losses, columns = metrics, each cell
the mean over done seeds ± the half-width of a 95% Student t-interval ("n=1" when a single seed ran),
the best mean per column in bold (higher is better for every quality metric). Cost: mean over done
seeds of time/step, total time, tokens/s, peak memory and forward passes, each also as a ratio to dpo.

JSON (``render_json``) doubles as the baseline file read by ``reports.baseline``::

    {
      "format": "synpo-bench-report", "format_version": 1,
      "run_id": "...", "run_dir": "...", "generated_at": "<ISO 8601 UTC>",
      "interval": "<how the intervals were computed>", "higher_is_better": true,
      "tasks":   {task: {loss: {metric: mean}}},          # the part the gate compares
      "quality": {task: {loss: {metric: {"mean", "n", "std", "ci_half", "ci_low", "ci_high", "best"}}}},
      "cost":    {task: {loss: {field: {"mean", "n", "relative_to_dpo", "best"}}}},
      "status":  {task: {loss: {"done": n, "failed": n, "running": n, "corrupt": n}}},
      "task_info": {task: {"data", "synthetic", "judge", "caption_metrics", "ref_mode": {loss: mode},
                           "memory_kind", "losses", "metrics"}},
      "problems": ["<cell> failed: <reason>", ...], "warnings": ["<file>: <problem>", ...]
    }

Means are over done seeds only; numbers that do not exist (no done seed, n=1 intervals) are null.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from synpo_bench.reports.aggregate import (
    CELL_STATUSES,
    COST_FIELDS,
    INTERVAL_METHOD,
    REFERENCE_LOSS,
    Results,
    cost_summary,
    problem_cells,
    quality_summary,
    status_summary,
)

FORMATS = ("table", "markdown", "csv", "json", "html")
REPORT_FORMAT = "synpo-bench-report"
REPORT_FORMAT_VERSION = 1
COST_LABELS = {
    "time_per_step_s": "time/step",
    "wall_clock_s": "total time",
    "tokens_per_s": "tokens/s",
    "peak_memory_mb": "peak memory",
    "forward_passes": "forward passes",
}


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
    generated_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    interval_method: str = INTERVAL_METHOD


START_ROW = "(start)"
"""The quality table's row for the model before preference training."""


def build_report(results: Results) -> Report:
    return Report(
        run_id=results.run_id,
        run_dir=results.run_dir,
        tasks=[_task_info(results, task) for task in results.tasks()],
        quality=quality_summary(results),
        cost=cost_summary(results),
        status=status_summary(results),
        steps=results.steps,
        problems=problem_cells(results),
        warnings=list(results.warnings),
    )


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
    )


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


# ------------------------------------------------------------------------------ formatted grids


@dataclass(frozen=True)
class Cell:
    text: str
    best: bool = False


@dataclass(frozen=True)
class Grid:
    """A formatted table: every renderer maps the same cells to its own syntax."""

    title: str
    columns: list[str]
    rows: list[list[Cell]]
    notes: list[str]


def grids(report: Report) -> list[Grid]:
    """Per task: its quality table, then its cost table."""
    return [grid for info in report.tasks for grid in (quality_grid(report, info), cost_grid(report, info))]


def quality_grid(report: Report, info: TaskInfo) -> Grid:
    scores = report.quality[report.quality["task"] == info.name].set_index(["loss", "metric"])
    rows = []
    for loss in info.losses:
        row = [Cell(loss)]
        for metric in info.metrics:
            entry = scores.loc[(loss, metric)] if (loss, metric) in scores.index else None
            row.append(_quality_cell(entry))
        row += [
            Cell(str(_status_count(report, info.name, loss, "done"))),
            Cell(_status_text(report, info.name, loss)),
        ]
        rows.append(row)
    if info.start:
        start_row = [Cell(START_ROW)]
        for metric in info.metrics:
            value = info.start.get(metric)
            start_row.append(Cell("-" if value is None else f"{value:.{decimals_for(value)}f}"))
        rows.append([*start_row, Cell("-"), Cell("before training")])
    notes = [f"data: {info.data_label}"]
    if info.judge:
        notes.append(f"judge: {info.judge}")
    if info.caption_metrics:
        notes.append(f"caption metrics: {info.caption_metrics}")
    notes.append("reference model: " + ", ".join(f"{loss} {mode}" for loss, mode in info.ref_modes.items()))
    notes.append(f"{report.interval_method}; best mean per column in bold (higher is better)")
    if info.start:
        notes.append(f"{START_ROW}: the warm-started model every loss starts from, evaluated the same way")
    title = f"{info.name}: quality" + (" [synthetic data]" if info.synthetic else "")
    return Grid(title, ["loss", *info.metrics, "seeds", "status"], rows, notes)


def _quality_cell(entry: pd.Series | None) -> Cell:
    if entry is None or entry["n"] == 0:
        return Cell("-")
    mean = float(entry["mean"])
    decimals = decimals_for(mean)
    if entry["n"] == 1:
        return Cell(f"{mean:.{decimals}f} (n=1)", bool(entry["best"]))
    return Cell(f"{mean:.{decimals}f} ± {float(entry['ci_half']):.{decimals}f}", bool(entry["best"]))


def decimals_for(value: float) -> int:
    """Enough decimals for about four significant digits on the usual metric scales."""
    magnitude = abs(value)
    if magnitude >= 100:
        return 1
    if magnitude >= 1 or magnitude == 0:
        return 2
    return 3


def cost_grid(report: Report, info: TaskInfo) -> Grid:
    costs = report.cost[report.cost["task"] == info.name].set_index(["loss", "field"])
    has_reference = REFERENCE_LOSS in info.losses
    rows = []
    for loss in info.losses:
        row = [Cell(loss)]
        for name in COST_FIELDS:
            entry = costs.loc[(loss, name)] if (loss, name) in costs.index else None
            row.append(_cost_cell(name, entry, has_reference))
        row.append(Cell(str(_status_count(report, info.name, loss, "done"))))
        rows.append(row)
    memory = f"peak memory ({info.memory_kind})" if info.memory_kind else "peak memory"
    columns = ["loss", *(memory if n == "peak_memory_mb" else COST_LABELS[n] for n in COST_FIELDS), "seeds"]
    notes = ["mean over done seeds; best per column in bold"]
    if has_reference:
        notes.append(f"(x) = relative to {REFERENCE_LOSS}, the same task's {REFERENCE_LOSS} mean = 1.00x")
    else:
        notes.append(f"no {REFERENCE_LOSS} cell in this task: no relative costs")
    return Grid(f"{info.name}: cost", columns, rows, notes)


def _cost_cell(name: str, entry: pd.Series | None, has_reference: bool) -> Cell:
    if entry is None or entry["n"] == 0 or math.isnan(entry["mean"]):
        return Cell("-")
    text = format_cost(name, float(entry["mean"]))
    if has_reference and not math.isnan(entry["relative_to_dpo"]):
        text += f" ({entry['relative_to_dpo']:.2f}x)"
    return Cell(text, bool(entry["best"]))


def format_cost(name: str, value: float) -> str:
    if name == "time_per_step_s":
        return f"{value * 1000:.1f} ms"
    if name == "wall_clock_s":
        return f"{value:.1f} s"
    if name == "peak_memory_mb":
        return f"{value:,.0f} MB"
    return f"{value:,.0f}"


def _status_count(report: Report, task: str, loss: str, status: str) -> int:
    rows = report.status[(report.status["task"] == task) & (report.status["loss"] == loss)]
    return int(rows[status].sum()) if not rows.empty else 0


def _status_text(report: Report, task: str, loss: str) -> str:
    counts = {s: _status_count(report, task, loss, s) for s in CELL_STATUSES}
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "-"


def header_lines(report: Report) -> list[str]:
    return [f"synpo-bench report: run {report.run_id} ({report.run_dir})", f"generated {report.generated_at}"]


# --------------------------------------------------------------------------------------- renderers


def render_rich(report: Report) -> RenderableType:
    """Tables for the terminal; problems follow the tables (warnings are the caller's to print)."""
    parts: list[RenderableType] = [
        Text(line, style="bold" if i == 0 else "dim") for i, line in enumerate(header_lines(report))
    ]
    for grid in grids(report):
        parts.append(rich_table(grid))
        parts += [Text(f"  {note}", style="dim") for note in grid.notes] + [Text("")]
    if report.problems:
        parts.append(Text("cells not done:", style="bold yellow"))
        parts += [Text(f"  {line}", style="yellow") for line in report.problems]
    return Group(*parts)


MAX_TERMINAL_COLUMNS = 10
"""Wider grids are shown transposed in the terminal (one row per metric, one column per loss): VDC's
fifteen metrics as columns fold every header into a stack of letters."""


def rich_table(grid: Grid) -> Table:
    if len(grid.columns) > MAX_TERMINAL_COLUMNS:
        grid = transposed(grid)
    table = Table(title=grid.title, title_justify="left")
    for index, column in enumerate(grid.columns):
        table.add_column(column, justify="left" if index == 0 else "right", overflow="fold")
    for row in grid.rows:
        table.add_row(*(Text(cell.text, style="bold" if cell.best else "") for cell in row))
    return table


def transposed(grid: Grid) -> Grid:
    """The same cells with rows and columns swapped; the first column's header names the new row labels."""
    columns = ["metric", *(row[0].text for row in grid.rows)]
    rows = [
        [Cell(name), *(row[index] for row in grid.rows)] for index, name in enumerate(grid.columns) if index
    ]
    return Grid(grid.title, columns, rows, grid.notes)


def render_text(report: Report, width: int = 140) -> str:
    """The rich tables as plain text (``--format table --out FILE``)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(render_rich(report))
    return console.file.getvalue()


def render_markdown(report: Report) -> str:
    lines = [
        f"# synpo-bench report: run `{report.run_id}`",
        "",
        f"Results: `{report.run_dir}`; generated {report.generated_at}.",
        "",
    ]
    for grid in grids(report):
        lines += [
            f"## {grid.title}",
            "",
            _markdown_row(grid.columns),
            "|" + "|".join([":---"] + ["---:"] * (len(grid.columns) - 1)) + "|",
        ]
        lines += [_markdown_row([f"**{c.text}**" if c.best else c.text for c in row]) for row in grid.rows]
        lines += [""] + [f"- {note}" for note in grid.notes] + [""]
    for title, items in (("Cells not done", report.problems), ("Warnings", report.warnings)):
        if items:
            lines += [f"## {title}", ""] + [f"- {item}" for item in items] + [""]
    return "\n".join(lines)


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def render_csv(report: Report) -> str:
    """Long form, one row per (task, loss, metric) of quality and per (task, loss, field) of cost."""
    columns = [
        "section",
        "task",
        "loss",
        "metric",
        "n",
        "mean",
        "std",
        "ci_half",
        "ci_low",
        "ci_high",
        "relative_to_dpo",
        "best",
        "status",
        "synthetic",
    ]
    info = {t.name: t for t in report.tasks}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for section, frame, key in (("quality", report.quality, "metric"), ("cost", report.cost, "field")):
        for row in frame.to_dict("records"):
            writer.writerow(
                {
                    **{c: _plain(row.get(c)) for c in columns if c in row},
                    "section": section,
                    "metric": row[key],
                    "status": _status_text(report, row["task"], row["loss"]),
                    "synthetic": info[row["task"]].synthetic,
                }
            )
    return buffer.getvalue()


def report_payload(report: Report) -> dict[str, Any]:
    """The JSON report, which is also a baseline file (see the module docstring)."""
    payload: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "format_version": REPORT_FORMAT_VERSION,
        "run_id": report.run_id,
        "run_dir": str(report.run_dir),
        "generated_at": report.generated_at,
        "interval": report.interval_method,
        "higher_is_better": True,
        "tasks": {},
        "quality": {},
        "cost": {},
        "status": {},
        "task_info": {},
        "problems": report.problems,
        "warnings": report.warnings,
    }
    for row in report.quality.to_dict("records"):
        detail = {k: _plain(row[k]) for k in ("mean", "n", "std", "ci_half", "ci_low", "ci_high", "best")}
        payload["quality"].setdefault(row["task"], {}).setdefault(row["loss"], {})[row["metric"]] = detail
        if row["n"] > 0:
            payload["tasks"].setdefault(row["task"], {}).setdefault(row["loss"], {})[row["metric"]] = float(
                row["mean"]
            )
    for row in report.cost.to_dict("records"):
        detail = {k: _plain(row[k]) for k in ("mean", "n", "relative_to_dpo", "best")}
        payload["cost"].setdefault(row["task"], {}).setdefault(row["loss"], {})[row["field"]] = detail
    for row in report.status.to_dict("records"):
        payload["status"].setdefault(row["task"], {})[row["loss"]] = {s: int(row[s]) for s in CELL_STATUSES}
    for info in report.tasks:
        payload["task_info"][info.name] = {
            "data": info.data_label,
            "synthetic": info.synthetic,
            "judge": info.judge,
            "caption_metrics": info.caption_metrics,
            "ref_mode": info.ref_modes,
            "memory_kind": info.memory_kind,
            "losses": info.losses,
            "metrics": info.metrics,
            "start_quality": info.start,
        }
    return payload


def render_json(report: Report) -> str:
    return json.dumps(report_payload(report), indent=2, allow_nan=False) + "\n"


def _plain(value: Any) -> Any:
    """JSON-safe scalars: numpy types to Python, NaN to None."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


_HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.notes { color: #555; font-size: 0.9rem; margin-top: 0; }
.warnings li { color: #8a5a00; }
img { max-width: 100%; display: block; margin: 0.5rem 0 1.5rem; }
"""


def render_html(report: Report) -> str:
    """A self-contained page: tables, then per task its training curves and quality-vs-time plot."""
    from synpo_bench.reports.plots import data_uri, quality_vs_time_png, training_curves_png

    escape = html.escape
    body = [
        f"<h1>synpo-bench report: run {escape(report.run_id)}</h1>",
        f"<p class='notes'>results: {escape(str(report.run_dir))}; "
        f"generated {escape(report.generated_at)}</p>",
    ]
    for info in report.tasks:
        body.append(f"<h2>{escape(info.name)}</h2>")
        body += [_html_grid(grid) for grid in (quality_grid(report, info), cost_grid(report, info))]
        figures = (
            ("training curves", training_curves_png(report.steps, info.name, info.losses)),
            (
                "quality vs wall-clock",
                quality_vs_time_png(report.quality, report.cost, info.name, info.metrics, info.losses),
            ),
        )
        for label, png in figures:
            if png is not None:
                body.append(f"<h3>{escape(info.name)}: {label}</h3>")
                body.append(f"<img alt='{escape(info.name)} {label}' src='{data_uri(png)}'>")
    for title, items, css in (
        ("Cells not done", report.problems, ""),
        ("Warnings", report.warnings, "warnings"),
    ):
        if items:
            body.append(f"<h2>{title}</h2><ul class='{css}'>")
            body += [f"<li>{escape(item)}</li>" for item in items]
            body.append("</ul>")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>synpo-bench report {escape(report.run_id)}</title><style>{_HTML_STYLE}</style></head>"
        "<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _html_grid(grid: Grid) -> str:
    escape = html.escape
    head = "".join(f"<th>{escape(c)}</th>" for c in grid.columns)
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td><strong>{escape(c.text)}</strong></td>" if c.best else f"<td>{escape(c.text)}</td>"
            for c in row
        )
        + "</tr>"
        for row in grid.rows
    )
    notes = "<br>".join(escape(n) for n in grid.notes)
    return (
        f"<h3>{escape(grid.title)}</h3><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        f"<p class='notes'>{notes}</p>"
    )


def render(report: Report, output_format: str) -> str:
    """The report as text in one of ``FORMATS``."""
    renderers = {
        "table": render_text,
        "markdown": render_markdown,
        "csv": render_csv,
        "json": render_json,
        "html": render_html,
    }
    if output_format not in renderers:
        raise ValueError(f"unknown format '{output_format}'; choose one of {', '.join(FORMATS)}")
    return renderers[output_format](report)
