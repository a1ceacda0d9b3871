"""Paired comparisons in reports (reports/paired.py, statistics.bootstrap_difference), worked by hand.

Toy task "toy" (not registered: its headline is its first metric, "x"), ten evaluation items with base
values 0, 10, ..., 90 (a wide spread between items, as captions of easy and hard clips have):
  dpo   seed s: base + s                       -> means 45, 46: 45.50 ± 12.7062·0.5 = ± 6.35
  simpo seed s: base + s + 2 + (+0.5, -0.5, ...) -> means 47, 48: 47.50 ± 6.35
The t-intervals over seeds overlap (45.5 + 6.35 > 47.5 - 6.35), and so do unpaired intervals over items
(the items' spread is ~30). Item by item, simpo - dpo is 2.5 or 1.5 on every item of every seed, so every
bootstrap resample's mean lies in [1.5, 2.5]: the paired interval excludes 0 -> "better", and simpo's
mean is the one bold value.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from synpo_bench.cli.report import report_command
from synpo_bench.reports.paired import START
from synpo_bench.reports.reading import load_results
from synpo_bench.reports.render import render_csv, render_json, render_markdown, render_text
from synpo_bench.reports.report import build_report
from synpo_bench.reports.statistics import bootstrap_difference
from tests._results_factory import cost_fields, result, write_cell

TASK = "toy"
BASE = [10.0 * i for i in range(10)]
NOISE = [0.5 if i % 2 == 0 else -0.5 for i in range(10)]


def dpo_values(seed: int) -> list[float]:
    return [b + seed for b in BASE]


def simpo_values(seed: int) -> list[float]:
    return [b + seed + 2 + e for b, e in zip(BASE, NOISE, strict=True)]


def write_items(folder: Path, values: list[float], clips: list[str] | None = None) -> None:
    clips = clips or [f"clip{i}" for i in range(len(values))]
    lines = [
        json.dumps({"clip_id": clip, "dimension": "caption", "scores": {"x": value}})
        for clip, value in zip(clips, values, strict=True)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "item_scores.jsonl").write_text("".join(line + "\n" for line in lines))


def write_run(run_dir: Path, values: dict[tuple[str, int], list[float]], start: list[float] | None) -> Path:
    for (loss, seed), items in values.items():
        quality = {"x": float(np.mean(items))}
        payload = result(TASK, loss, seed, quality, cost_fields(0.05, 5.0, 1000.0, 500.0, 20))
        write_items(write_cell(run_dir, TASK, loss, seed, result_payload=payload), items)
    if start is not None:
        (run_dir / TASK).mkdir(parents=True, exist_ok=True)
        (run_dir / TASK / "task.json").write_text(json.dumps({"start_quality": {"x": float(np.mean(start))}}))
        write_items(run_dir / TASK, start)
    return run_dir


@pytest.fixture
def better_run(tmp_path: Path) -> Path:
    values = {(loss, s): f(s) for loss, f in (("dpo", dpo_values), ("simpo", simpo_values)) for s in (0, 1)}
    return write_run(tmp_path / "run-toy", values, start=dpo_values(0))


def test_paired_difference_is_significant_where_unpaired_intervals_overlap(better_run: Path) -> None:
    report = build_report(load_results(better_run))
    quality = report.quality.set_index("loss")
    assert quality.loc["simpo", "ci_low"] < quality.loc["dpo", "ci_high"]  # t-intervals overlap
    found = report.paired.entry(TASK, "simpo", "dpo", "x")
    assert found is not None and bool(found["paired"])
    assert found["difference"] == pytest.approx(2.0)
    assert 1.5 <= found["low"] <= found["high"] <= 2.5
    assert found["verdict"] == "better" and found["n_seeds"] == 2 and found["n_items"] == 10
    unpaired = bootstrap_difference(
        [np.array(simpo_values(s)) for s in (0, 1)], [np.array(dpo_values(s)) for s in (0, 1)], paired=False
    )
    assert unpaired.low is not None and unpaired.low < 0 < unpaired.high  # unpaired: no difference seen
    text = render_markdown(report)
    assert "| simpo | **47.50 ± 6.35** |" in text and "| dpo | 45.50 ± 6.35 |" in text
    assert "## toy: vs dpo (paired)" in text and "| x | +2.00 ±" in text and "better |" in text
    # against the start (dpo seed 0's values): dpo is +0.5 on average (0 and +1), simpo +2.5
    assert report.paired.entry(TASK, "simpo", START, "x")["verdict"] == "better"
    assert not any("no signal" in warning for warning in report.warnings)


def test_identical_models_show_no_detectable_difference(tmp_path: Path) -> None:
    values = {(loss, 0): dpo_values(0) for loss in ("dpo", "simpo")}
    report = build_report(load_results(write_run(tmp_path / "run-same", values, start=None)))
    found = report.paired.entry(TASK, "simpo", "dpo", "x")
    assert (found["difference"], found["low"], found["high"]) == (0.0, 0.0, 0.0)
    assert found["verdict"] == "no detectable difference"
    assert not report.quality["best"].any()  # equal means: nothing bold
    assert "+0.00 ± 0.00 n.s." in render_text(report)


def test_no_signal_warning_when_no_loss_differs_from_the_start(tmp_path: Path) -> None:
    # every loss within +-0.5 of the start on each item, symmetrically: every interval contains 0
    values = {("dpo", 0): dpo_values(0), ("simpo", 0): [b + e for b, e in zip(BASE, NOISE, strict=True)]}
    report = build_report(load_results(write_run(tmp_path / "run-flat", values, start=dpo_values(0))))
    assert [report.paired.entry(TASK, loss, START, "x")["verdict"] for loss in ("dpo", "simpo")] == [
        "no detectable difference",
        "no detectable difference",
    ]
    warning = "no signal on task 'toy': no loss differs detectably from the start on x"
    assert any(w.startswith(warning) for w in report.warnings)
    assert warning in render_markdown(report)
    assert any(w.startswith(warning) for w in json.loads(render_json(report))["warnings"])


def test_mismatched_items_are_named_and_fall_back_to_unpaired(tmp_path: Path) -> None:
    values = {(loss, 0): f(0) for loss, f in (("dpo", dpo_values), ("simpo", simpo_values))}
    run = write_run(tmp_path / "run-odd", values, start=None)
    write_items(run / TASK / "simpo" / "seed0", simpo_values(0), clips=[f"other{i}" for i in range(10)])
    report = build_report(load_results(run))
    found = report.paired.entry(TASK, "simpo", "dpo", "x")
    assert not bool(found["paired"]) and found["verdict"] == "no detectable difference"
    message = next(w for w in report.warnings if "cannot be paired" in w)
    assert "toy/simpo/seed0 differ from toy/dpo/seed0" in message and "unpaired intervals" in message
    assert "unpaired" in render_markdown(report)


def test_every_format_carries_the_comparisons(better_run: Path) -> None:
    report = build_report(load_results(better_run))
    payload = json.loads(render_json(report))["paired"]
    assert payload["baseline_loss"] == "dpo" and "percentile bootstrap" in payload["method"]
    comparison = next(c for c in payload["tasks"][TASK]["comparisons"] if c["against"] == "dpo")
    assert (
        comparison["loss"] == "simpo" and comparison["verdict"] == "better" and comparison["paired"] is True
    )
    rows = [r for r in csv.DictReader(io.StringIO(render_csv(report))) if r["section"] == "paired"]
    assert {(r["loss"], r["against"], r["verdict"]) for r in rows} == {
        ("simpo", "dpo", "better"),
        ("dpo", "start", "no detectable difference"),
        ("simpo", "start", "better"),
    }
    assert (
        render_json(build_report(load_results(better_run))).split('"paired"')[1]
        == render_json(report).split('"paired"')[1]
    )  # a fixed bootstrap seed: the same folder, the same intervals


def test_cli_baseline_loss(better_run: Path) -> None:
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("unused")(lambda: None)
    done = CliRunner().invoke(
        app, ["report", str(better_run), "--format", "markdown", "--baseline-loss", "simpo"]
    )
    assert done.exit_code == 0, done.output
    assert "## toy: vs simpo (paired)" in done.output and "| x | -2.00 ±" in done.output
    wrong = CliRunner().invoke(app, ["report", str(better_run), "--baseline-loss", "nope"])
    assert wrong.exit_code == 2 and "--baseline-loss 'nope'" in wrong.output
