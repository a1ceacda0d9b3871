"""The report's layout (reports/layout.py, grids.py, html_page.py): a headline table per task, every metric
with metrics as rows in groups (lm-eval's ``nlp:`` on their own), no table wider than 140 columns in any
format, plots of the headline metrics against wall-clock, and terminal output that keeps its columns
when stdout is not a terminal.

The wide run mimics the default run's report: task vatex (headline CIDEr, BLEU-4, fact_accuracy), seven
losses, two seeds each (cells "60.88 ± 12.71"), caption, fact, preference and lm-eval metrics, a start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synpo_bench.reports.grids import Cell, Grid
from synpo_bench.reports.html_page import render_html
from synpo_bench.reports.layout import PAGE_COLUMNS, fitted, grid_width, report_grids
from synpo_bench.reports.reading import load_results
from synpo_bench.reports.render import render_markdown, render_text
from synpo_bench.reports.report import Report, build_report
from tests._results_factory import cost_fields, result, step_records, write_cell

TASK = "vatex"
LOSSES = ("dpo", "ipo", "orpo", "rdpo", "simpo", "synpo", "long_named_loss")
TASK_METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr", "METEOR", "ROUGE-L", "fact_accuracy")
PREFERENCE = ("heldout_pref_accuracy", "tie_rate", "win_rate")
LM_EVAL = ("nlp:synpo_gen/exact_match", "nlp:synpo_mc/acc", "nlp:synpo_mc/acc_norm")
METRICS = (*TASK_METRICS, "fact_score", *PREFERENCE, *LM_EVAL)


def quality(index: int, seed: int) -> dict[str, float]:
    return {metric: 40.0 + index + 3.0 * seed + 0.1 * m for m, metric in enumerate(METRICS)}


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("results") / "run-wide"
    for index, loss in enumerate(LOSSES):
        for seed in (0, 1):
            payload = result(
                TASK, loss, seed, quality(index, seed), cost_fields(0.05, 5.0, 1000.0, 500.0, 20)
            )
            write_cell(run_dir, TASK, loss, seed, result_payload=payload, metrics=step_records(loss, seed))
    start = {m: v for m, v in quality(0, 0).items() if m not in ("win_rate", "tie_rate")}
    (run_dir / TASK / "task.json").write_text(json.dumps({"start_quality": start}))
    return run_dir


@pytest.fixture(scope="module")
def report(wide_run: Path) -> Report:
    return build_report(load_results(wide_run))


def first_column(grids: list[Grid]) -> list[str]:
    return [row[0].text for grid in grids for row in grid.rows]


def test_each_task_has_a_headline_table(report: Report) -> None:
    text = render_markdown(report)
    assert "## vatex: headline [synthetic data]" in text
    header = "| loss | CIDEr | BLEU-4 | fact_accuracy | win_rate | heldout_pref_accuracy | seeds | status |"
    assert header in text
    # dpo CIDEr: 40.4 and 43.4 -> 41.90 ± t(0.975, 1)·1.5 = ± 19.06
    assert "| dpo | 41.90 ± 19.06 | 41.80 ± 19.06 | 42.20 ± 19.06 |" in text
    assert "| (start) | 40.40 | 40.30 | 40.70 | - | 40.90 | - | before training |" in text


def test_every_metric_is_a_row_of_its_group(report: Report) -> None:
    grids = [grid for grid in report_grids(report) if grid.columns[0] == "metric"]
    groups = {
        label: [g for g in grids if g.title.startswith(f"vatex: {label}")]
        for label in ("task metrics", "preference metrics", "lm-eval metrics")
    }
    assert first_column(groups["lm-eval metrics"]) == list(LM_EVAL) * len(groups["lm-eval metrics"])
    assert set(first_column(groups["task metrics"])) == {*TASK_METRICS, "fact_score"}
    assert set(first_column(groups["preference metrics"])) == set(PREFERENCE)
    columns = [c for g in groups["task metrics"] for c in g.columns if c != "metric"]
    # losses as columns (dpo first, then by name), cut into parts, none lost or repeated
    assert columns == ["dpo", *sorted(LOSSES[1:]), "(start)"]


def test_no_table_is_wider_than_the_page(report: Report) -> None:
    grids = report_grids(report)
    assert all(grid_width(grid) <= PAGE_COLUMNS for grid in grids)
    assert any("(part 2/2)" in grid.title for grid in grids)  # seven losses do not fit one table
    table_lines = [line for line in render_markdown(report).splitlines() if line.startswith("|")]
    assert table_lines and max(map(len, table_lines)) <= PAGE_COLUMNS
    text = render_text(report)
    assert max(map(len, text.splitlines())) <= PAGE_COLUMNS
    for name in (*LOSSES, *METRICS, "(start)"):  # drawn whole: no table had to fold a cell
        assert name in text


def test_a_column_wider_than_the_page_stays_whole() -> None:
    grid = Grid("wide", ["name", "x" * 150, "y"], [[Cell("a"), Cell("1"), Cell("2")]], ["note"])
    parts = fitted(grid)
    assert [p.columns for p in parts] == [["name", "x" * 150], ["name", "y"]]
    assert [p.notes for p in parts] == [[], ["note"]]


def test_html_plots_the_headline_metrics_against_wall_clock(report: Report) -> None:
    page = render_html(report)
    assert "<h3>vatex: CIDEr, BLEU-4, fact_accuracy vs wall-clock</h3>" in page
    assert "BLEU-1 vs" not in page


def test_piped_terminal_output_keeps_its_columns(wide_run: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    script = Path(sys.executable).parent / "synpo-bench"
    done = subprocess.run(
        [str(script), "report", str(wide_run), "--format", "table", "--no-save"],
        capture_output=True,  # stdout is a pipe, not a terminal
        text=True,
        timeout=300,
        env={**env, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(map(len, lines)) <= PAGE_COLUMNS
    header = next(line for line in lines if "┃ loss" in line and "CIDEr" in line)
    for column in ("CIDEr", "BLEU-4", "fact_accuracy", "win_rate", "heldout_pref_accuracy", "status"):
        assert f" {column} " in header
    for name in (*LOSSES, "(start)"):
        assert any(line.startswith(f"│ {name} ") for line in lines), name
    for metric in LM_EVAL:
        assert any(line.startswith(f"│ {metric} ") for line in lines), metric
