"""The report as one self-contained HTML page, per task: the headline table, its metrics against
wall-clock, the paired comparisons, the cost, the training curves, then every metric (reports.layout,
reports.plots)."""

from __future__ import annotations

import html

from synpo_bench.reports.grids import Grid
from synpo_bench.reports.layout import task_tables
from synpo_bench.reports.report import Report, TaskInfo, header_lines

_HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.notes { color: #555; font-size: 0.9rem; margin-top: 0; }
.warnings li { color: #8a5a00; }
img { max-width: 100%; display: block; margin: 0.5rem 0 1.5rem; }
.scroll { overflow-x: auto; }
"""


def render_html(report: Report) -> str:
    """A self-contained page: per task its tables and plots, then the cells not done and the warnings."""
    escape = html.escape
    body = [
        f"<h1>synpo-bench report: run {escape(report.run_id)}</h1>",
        f"<p class='notes'>results: {escape(str(report.run_dir))}; "
        f"generated {escape(report.generated_at)}</p>",
        f"<p class='notes'>{escape(header_lines(report)[-1])}</p>",
    ]
    for info in report.tasks:
        body += _task_section(report, info)
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


def _task_section(report: Report, info: TaskInfo) -> list[str]:
    # matplotlib takes about a second to import; only this page needs it, not every `synpo-bench` start.
    from synpo_bench.reports.plots import quality_vs_time_png, time_panels, training_curves_png

    tables = task_tables(report, info)
    section = [f"<h2>{html.escape(info.name)}</h2>", *map(_html_grid, tables.headline)]
    plotted = time_panels(report.quality, info.name, info.headline)
    png = quality_vs_time_png(report.quality, report.cost, info.name, plotted, info.losses, info.start)
    section += _figure(info.name, f"{', '.join(plotted)} vs wall-clock", png)
    section += [_html_grid(grid) for grid in (*tables.paired, *tables.cost)]
    png = training_curves_png(report.steps, info.name, info.losses)
    section += _figure(info.name, "training curves", png)
    section += [_html_grid(grid) for grid in tables.metrics]
    return section


def _figure(task: str, label: str, png: bytes | None) -> list[str]:
    from synpo_bench.reports.plots import data_uri

    if png is None:
        return []
    escape = html.escape
    return [
        f"<h3>{escape(task)}: {escape(label)}</h3>",
        f"<img alt='{escape(task)}: {escape(label)}' src='{data_uri(png)}'>",
    ]


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
        f"<h3>{escape(grid.title)}</h3><div class='scroll'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
        f"<p class='notes'>{notes}</p>"
    )
