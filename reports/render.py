"""A ``Report`` as text: rich (terminal), plain text, markdown, CSV and JSON; ``render`` picks by name.

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
      "paired":  {"baseline_loss", "method", "tasks": {task: {"metrics": [...], "notes": [...],
                  "comparisons": [{"loss", "against" (a loss or "start"), "metric", "difference", "low",
                                   "high", "verdict", "paired", "n_items", "n_seeds"}]}}},
      "mode": "shared" | "tuned", "tuning": null | {task: ...} (reports.tuning_payload),
      "problems": ["<cell> failed: <reason>", ...], "warnings": ["<file>: <problem>", ...]
    }

Means are over done seeds only; numbers that do not exist (no done seed, n=1 intervals) are null.
``best`` is true only for a mean significantly better than every other loss's (reports.paired).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable

import numpy as np
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from synpo_bench.reports.grids import Grid, status_text
from synpo_bench.reports.html_page import render_html
from synpo_bench.reports.layout import PAGE_COLUMNS, report_grids
from synpo_bench.reports.paired import FIELDS as PAIRED_FIELDS
from synpo_bench.reports.report import Report, header_lines
from synpo_bench.reports.results import CELL_STATUSES
from synpo_bench.reports.tuning_payload import tuning_payload, tuning_rows

FORMATS = ("table", "markdown", "csv", "json", "html")
REPORT_FORMAT = "synpo-bench-report"
REPORT_FORMAT_VERSION = 1

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def render(report: Report, output_format: str) -> str:
    """The report as text in one of ``FORMATS``."""
    renderers: dict[str, Callable[[Report], str]] = {
        "table": render_text,
        "markdown": render_markdown,
        "csv": render_csv,
        "json": render_json,
        "html": render_html,
    }
    if output_format not in renderers:
        raise ValueError(f"unknown format '{output_format}'; choose one of {', '.join(FORMATS)}")
    return renderers[output_format](report)


def render_rich(report: Report) -> RenderableType:
    """Tables for the terminal; problems follow the tables (warnings are the caller's to print)."""
    parts: list[RenderableType] = [
        Text(line, style="bold" if i == 0 else "dim") for i, line in enumerate(header_lines(report))
    ]
    for grid in report_grids(report):
        parts += rich_grid(grid)
    if report.problems:
        parts.append(Text("cells not done:", style="bold yellow"))
        parts += [Text(f"  {line}", style="yellow") for line in report.problems]
    return Group(*parts)


def rich_grid(grid: Grid) -> list[RenderableType]:
    """A grid's table, its notes (dimmed) and a blank line."""
    return [rich_table(grid), *(Text(f"  {note}", style="dim") for note in grid.notes), Text("")]


def rich_table(grid: Grid) -> Table:
    """The grid as a rich table; its first column (loss or metric names) is never wrapped or folded,
    even in a terminal narrower than the table (reports.layout fits tables to ``PAGE_COLUMNS``)."""
    # The title as Text: "[synthetic data]" must be printed, not read as rich markup.
    table = Table(title=Text(grid.title, style="table.title"), title_justify="left")
    for index, column in enumerate(grid.columns):
        if index == 0:
            table.add_column(column, justify="left", no_wrap=True)
        else:
            table.add_column(column, justify="right", overflow="fold")
    for row in grid.rows:
        table.add_row(*(Text(cell.text, style="bold" if cell.best else "") for cell in row))
    return table


def render_text(report: Report, width: int = PAGE_COLUMNS) -> str:
    """The rich tables as plain text (``--format table --out FILE``)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    console.print(render_rich(report))
    return buffer.getvalue()


def render_markdown(report: Report) -> str:
    lines = [
        f"# synpo-bench report: run `{report.run_id}`",
        "",
        f"Results: `{report.run_dir}`; generated {report.generated_at}.",
        "",
        header_lines(report)[-1],
        "",
    ]
    for grid in report_grids(report):
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


CSV_COLUMNS = (
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
    *PAIRED_FIELDS,
    "setting",
    "wall_clock_s",
)


def render_csv(report: Report) -> str:
    """Long form, one row per (task, loss, metric) of quality, per (task, loss, field) of cost and per
    paired comparison (section "paired": against a loss or "start"; n = seeds)."""
    info = {t.name: t for t in report.tasks}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for section, frame, key in (("quality", report.quality, "metric"), ("cost", report.cost, "field")):
        for row in frame.to_dict("records"):
            writer.writerow(
                {
                    **{c: _plain(row.get(c)) for c in CSV_COLUMNS if c in row},
                    "section": section,
                    "metric": row[key],
                    "status": status_text(report, row["task"], row["loss"]),
                    "synthetic": info[row["task"]].synthetic,
                }
            )
    for row in report.paired.frame.to_dict("records"):
        writer.writerow(
            {
                **{c: _plain(row[c]) for c in ("task", "loss", "metric", *PAIRED_FIELDS)},
                "section": "paired",
                "n": _plain(row["n_seeds"]),
                "synthetic": info[row["task"]].synthetic,
            }
        )
    for row in tuning_rows(report):
        writer.writerow({**row, "synthetic": info[str(row["task"])].synthetic})
    return buffer.getvalue()


def report_payload(report: Report) -> dict[str, JsonValue]:
    """The JSON report, which is also a baseline file (see the module docstring)."""
    tasks: dict[str, JsonValue] = {}
    quality: dict[str, JsonValue] = {}
    cost: dict[str, JsonValue] = {}
    status: dict[str, JsonValue] = {}
    for row in report.quality.to_dict("records"):
        detail = {k: _plain(row[k]) for k in ("mean", "n", "std", "ci_half", "ci_low", "ci_high", "best")}
        _nested(quality, row["task"], row["loss"])[row["metric"]] = detail
        if row["n"] > 0:
            _nested(tasks, row["task"], row["loss"])[row["metric"]] = float(row["mean"])
    for row in report.cost.to_dict("records"):
        detail = {k: _plain(row[k]) for k in ("mean", "n", "relative_to_dpo", "best")}
        _nested(cost, row["task"], row["loss"])[row["field"]] = detail
    for row in report.status.to_dict("records"):
        _nested(status, row["task"])[row["loss"]] = {s: int(row[s]) for s in CELL_STATUSES}
    task_info: dict[str, JsonValue] = {
        info.name: {
            "data": info.data_label,
            "synthetic": info.synthetic,
            "judge": info.judge,
            "caption_metrics": info.caption_metrics,
            "ref_mode": dict(info.ref_modes),
            "memory_kind": info.memory_kind,
            "losses": list(info.losses),
            "metrics": list(info.metrics),
            "start_quality": dict(info.start),
        }
        for info in report.tasks
    }
    return {
        "format": REPORT_FORMAT,
        "format_version": REPORT_FORMAT_VERSION,
        "run_id": report.run_id,
        "run_dir": str(report.run_dir),
        "generated_at": report.generated_at,
        "interval": report.interval_method,
        "higher_is_better": True,
        "tasks": tasks,
        "quality": quality,
        "cost": cost,
        "status": status,
        "task_info": task_info,
        "paired": _paired_payload(report),
        "mode": report.mode,
        "tuning": tuning_payload(report),
        "problems": list(report.problems),
        "warnings": list(report.warnings),
    }


def _paired_payload(report: Report) -> dict[str, JsonValue]:
    paired = report.paired
    fields = ("loss", "metric", *PAIRED_FIELDS, "n_seeds")
    tasks: dict[str, JsonValue] = {
        task: {
            "metrics": list(paired.metrics.get(task, [])),
            "notes": list(paired.notes.get(task, [])),
            "comparisons": [
                {key: _plain(row[key]) for key in fields}
                for row in paired.frame[paired.frame["task"] == task].to_dict("records")
            ],
        }
        for task in (info.name for info in report.tasks)
    }
    return {"baseline_loss": paired.baseline_loss, "method": paired.method, "tasks": tasks}


def render_json(report: Report) -> str:
    return json.dumps(report_payload(report), indent=2, allow_nan=False) + "\n"


def _nested(tree: dict[str, JsonValue], *keys: str) -> dict[str, JsonValue]:
    """``tree[k1][k2]...``, creating empty objects on the way."""
    for key in keys:
        child = tree.setdefault(key, {})
        assert isinstance(child, dict)
        tree = child
    return tree


def _plain(value: object) -> JsonValue:
    """JSON-safe scalars: numpy types to Python, NaN to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"not a JSON scalar: {value!r}")
