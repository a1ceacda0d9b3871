"""The report as one self-contained HTML page: the tables (quality, paired comparisons, cost), then per
task its plots (reports.plots)."""

from __future__ import annotations

import html

from synpo_bench.reports.grids import Grid, cost_grid, paired_grids, quality_grid
from synpo_bench.reports.report import Report

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
    # matplotlib takes about a second to import; only this page needs it, not every `synpo-bench` start.
    from synpo_bench.reports.plots import data_uri, quality_vs_time_png, training_curves_png

    escape = html.escape
    body = [
        f"<h1>synpo-bench report: run {escape(report.run_id)}</h1>",
        f"<p class='notes'>results: {escape(str(report.run_dir))}; "
        f"generated {escape(report.generated_at)}</p>",
    ]
    for info in report.tasks:
        body.append(f"<h2>{escape(info.name)}</h2>")
        tables = (quality_grid(report, info), *paired_grids(report, info), cost_grid(report, info))
        body += [_html_grid(grid) for grid in tables]
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
