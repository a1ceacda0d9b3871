"""Reports over fake results folders (tests/_results_factory.py): numbers checked by hand.

Hand values (standard_run): t(0.975, 1) = 12.7062 (Student t table). Two seeds with values x, y have
mean (x+y)/2, s = |x-y|/√2 and half-width t · s/√2 = 12.7062 · |x-y|/2:
  dpo CIDEr 20, 22 -> 21 ± 12.71;   simpo CIDEr 30, 26 -> 28 ± 25.41 (best)
  dpo BLEU-4 10, 14 -> 12 ± 25.41 (best);   simpo BLEU-4 9, 11 -> 10 ± 12.71
Cost relative to dpo: time/step 41/52 = 0.79x, tokens/s 1350/1050 = 1.29x, forward passes 10/20 = 0.50x.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import os
from pathlib import Path

import pytest
from rich.console import Console

from synpo_bench.reports.grids import headline_grid
from synpo_bench.reports.html_page import render_html
from synpo_bench.reports.numbers import format_cost, format_mean, format_number
from synpo_bench.reports.reading import load_results, resolve_run_dir
from synpo_bench.reports.render import render_csv, render_json, render_markdown, rich_table
from synpo_bench.reports.report import build_report
from synpo_bench.reports.statistics import student_t_quantile
from synpo_bench.reports.summaries import cost_summary, quality_summary
from tests._results_factory import (
    TASK,
    cost_fields,
    manifest,
    result,
    standard_run,
    step_records,
    write_cell,
)

T_975_1 = 12.7062  # Student t, 97.5% quantile, 1 degree of freedom (table value)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return standard_run(tmp_path / "results")


# ------------------------------------------------------------------------------------- aggregation


def test_one_row_per_cell_with_its_status(run_dir: Path) -> None:
    cells = load_results(run_dir).cells.set_index(["loss", "seed"])["status"].to_dict()
    assert cells == {
        ("dpo", 0): "done",
        ("dpo", 1): "done",
        ("dpo", 2): "running",
        ("simpo", 0): "done",
        ("simpo", 1): "done",
        ("simpo", 2): "failed",
        ("simpo", 3): "corrupt",
    }


def test_warnings_name_the_corrupt_and_half_written_files(run_dir: Path) -> None:
    warnings = load_results(run_dir).warnings
    corrupt = run_dir / TASK / "simpo" / "seed3" / "result.json"
    half_written = run_dir / TASK / "dpo" / "seed2" / "metrics.jsonl"
    assert any(w.startswith(f"{corrupt}: corrupt or half-written JSON") for w in warnings)
    assert any(
        w.startswith(f"{half_written}: 1 corrupt or half-written line(s) skipped (line 3)") for w in warnings
    )
    assert len(warnings) == 2


def test_steps_are_long_form_per_cell_step_and_metric(run_dir: Path) -> None:
    steps = load_results(run_dir).steps
    assert list(steps.columns[:7]) == ["task", "loss", "seed", "status", "step", "metric", "value"]
    row = steps[
        (steps["loss"] == "simpo") & (steps["seed"] == 1) & (steps["step"] == 2) & (steps["metric"] == "loss")
    ]
    assert row["value"].tolist() == pytest.approx([0.7 - 0.2 + 0.1 + 0.2])
    running = steps[(steps["loss"] == "dpo") & (steps["seed"] == 2)]
    assert sorted(running["step"].unique()) == [1, 2]  # the half-written third line is skipped


def test_config_mismatch_warning_names_the_odd_manifest(run_dir: Path) -> None:
    odd = manifest(
        TASK,
        "simpo",
        1,
        config={
            "budget": {"kind": "steps", "value": 4},
            "train": {"lr": 0.001, "batch_size": 16},
            "size": "tiny",
        },
    )
    (run_dir / TASK / "simpo" / "seed1" / "manifest.json").write_text(json.dumps(odd))
    warnings = load_results(run_dir).warnings
    mismatch = [w for w in warnings if "config differs" in w]
    assert len(mismatch) == 1
    assert mismatch[0].startswith(str(run_dir / TASK / "simpo" / "seed1" / "manifest.json"))
    assert "config.train.lr" in mismatch[0]


def test_missing_fields_warn_and_the_rest_still_aggregates(tmp_path: Path) -> None:
    run = tmp_path / "run-x"
    payload = result(TASK, "dpo", 0, {"CIDEr": 5.0}, cost_fields(0.05, 5.0, 1000.0, 500.0, 20))
    del payload["cost"]
    write_cell(run, TASK, "dpo", 0, result_payload=payload, metrics=step_records("dpo", 0))
    write_cell(run, TASK, "dpo", 1, result_payload=result(TASK, "dpo", 1, {"CIDEr": "high"}, {}), metrics=[])
    results = load_results(run)
    assert any(
        w == f"{run / TASK / 'dpo' / 'seed0' / 'result.json'}: missing field 'cost'; this cell has no "
        "cost numbers"
        for w in results.warnings
    )
    assert any("quality.CIDEr is 'high', not a number" in w for w in results.warnings)
    summary = quality_summary(results)
    assert summary[["n", "mean"]].values.tolist() == [[1, 5.0]]


def test_newest_run_is_chosen_from_a_results_folder(tmp_path: Path) -> None:
    old = standard_run(tmp_path, run_id="run-old")
    new = standard_run(tmp_path, run_id="run-new")
    for path in old.rglob("*.json"):
        os.utime(path, (2_000_000_000, 2_000_000_000))
    for path in new.rglob("*.json"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    assert resolve_run_dir(tmp_path) == old  # most recent activity, not the name
    assert resolve_run_dir(new) == new  # an explicit run folder is taken as given


# ------------------------------------------------------------------------------------------ statistics


@pytest.mark.parametrize(("df", "table_value"), [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622)])
def test_student_t_quantiles_match_the_table(df: int, table_value: float) -> None:
    assert student_t_quantile(0.975, df) == pytest.approx(table_value, abs=1e-4)


@pytest.mark.parametrize("probability", [0.6, 0.9, 0.975, 0.995])
def test_student_t_quantiles_match_the_closed_forms(probability: float) -> None:
    """df=1 is Cauchy, tan(pi(p - 1/2)); df=2 has t = (2p - 1) / sqrt(2p(1 - p))."""
    assert student_t_quantile(probability, 1) == pytest.approx(
        math.tan(math.pi * (probability - 0.5)), abs=1e-9
    )
    df2 = (2 * probability - 1) / math.sqrt(2 * probability * (1 - probability))
    assert student_t_quantile(probability, 2) == pytest.approx(df2, abs=1e-9)


def test_student_t_quantile_refuses_what_it_cannot_answer() -> None:
    with pytest.raises(ValueError):
        student_t_quantile(0.4, 3)
    with pytest.raises(ValueError):
        student_t_quantile(0.975, 0)


def test_quality_means_and_t_intervals_by_hand(run_dir: Path) -> None:
    summary = quality_summary(load_results(run_dir)).set_index(["loss", "metric"])
    assert summary.loc[("dpo", "CIDEr"), ["n", "mean"]].tolist() == [2, 21.0]
    assert summary.loc[("dpo", "CIDEr"), "ci_half"] == pytest.approx(T_975_1 * 2 / 2, abs=1e-3)
    assert summary.loc[("simpo", "CIDEr"), "mean"] == 28.0
    assert summary.loc[("simpo", "CIDEr"), "ci_half"] == pytest.approx(T_975_1 * 4 / 2, abs=1e-3)
    assert summary.loc[("simpo", "CIDEr"), "ci_low"] == pytest.approx(28.0 - T_975_1 * 2, abs=1e-3)
    assert summary["best"].to_dict() == {
        ("dpo", "BLEU-4"): True,
        ("dpo", "CIDEr"): False,
        ("simpo", "BLEU-4"): False,
        ("simpo", "CIDEr"): True,
    }


def test_cost_relative_to_dpo(run_dir: Path) -> None:
    cost = cost_summary(load_results(run_dir)).set_index(["loss", "field"])
    assert cost.loc[("simpo", "time_per_step_s"), "mean"] == pytest.approx(0.041)
    assert cost.loc[("simpo", "time_per_step_s"), "relative_to_dpo"] == pytest.approx(0.041 / 0.052)
    assert cost.loc[("simpo", "tokens_per_s"), "relative_to_dpo"] == pytest.approx(1350 / 1050)
    assert cost.loc[("simpo", "forward_passes"), "relative_to_dpo"] == pytest.approx(0.5)
    assert cost.loc[("dpo", "peak_memory_mb"), "relative_to_dpo"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- tables


def test_markdown_shows_mean_ci_best_status_and_labels(run_dir: Path) -> None:
    text = render_markdown(build_report(load_results(run_dir)))
    # the intervals overlap: no mean is significantly best, so none is bold (highest means included)
    # the headline table: vatex's headline metrics CIDEr, BLEU-4 (fact_accuracy was not measured)
    assert "| loss | CIDEr | BLEU-4 | seeds | status |" in text
    assert "| dpo | 21.00 ± 12.71 | 12.00 ± 25.41 | 2 | 2 done, 1 running |" in text
    assert "| simpo | 28.00 ± 25.41 | 10.00 ± 12.71 | 2 | 2 done, 1 failed, 1 corrupt |" in text
    assert "| simpo | **41.0 ms (0.79x)** | **4.1 s (0.79x)** | **1,350 (1.29x)** |" in text
    assert "| dpo | 52.0 ms (1.00x) |" in text
    assert "## vatex: headline [synthetic data]" in text
    assert "task metrics" not in text  # the headline table already shows every metric
    for label in (
        "data: SYNTHETIC",
        "judge: exact-fact",
        "caption metrics: pycocoevalcap 1.2 (test)",
        "95% Student t-interval",
        "vatex/simpo/seed2 failed: non-finite loss (nan) (step 3)",
    ):
        assert label in text


def test_single_seed_shows_the_mean_and_n1_and_no_dpo_means_no_ratio(tmp_path: Path) -> None:
    run = tmp_path / "run-one"
    payload = result(TASK, "simpo", 0, {"CIDEr": 20.0}, cost_fields(0.04, 4.0, 1300.0, 400.0, 10))
    write_cell(run, TASK, "simpo", 0, result_payload=payload, metrics=step_records("simpo", 0))
    text = render_markdown(build_report(load_results(run)))
    assert "| simpo | 20.00 (n=1) | 1 | 1 done |" in text  # one loss: nothing to be best against
    assert "| simpo | **40.0 ms** |" in text
    assert "no dpo cell in this task: no relative costs" in text


def test_rich_table_bolds_no_highest_mean_whose_interval_overlaps(run_dir: Path) -> None:
    report = build_report(load_results(run_dir))
    console = Console(file=io.StringIO(), width=200, force_terminal=True, color_system="standard")
    console.print(rich_table(headline_grid(report, report.tasks[0])))
    output = console.file.getvalue()
    bold = "\x1b[1m"
    assert "28.00 ± 25.41" in output and f"{bold}28.00 ± 25.41" not in output
    assert "12.00 ± 25.41" in output and f"{bold}12.00 ± 25.41" not in output


def test_json_is_a_baseline_with_details(run_dir: Path) -> None:
    payload = json.loads(render_json(build_report(load_results(run_dir))))
    assert payload["tasks"] == {
        TASK: {"dpo": {"BLEU-4": 12.0, "CIDEr": 21.0}, "simpo": {"BLEU-4": 10.0, "CIDEr": 28.0}}
    }
    assert payload["quality"][TASK]["simpo"]["CIDEr"]["ci_half"] == pytest.approx(T_975_1 * 2, abs=1e-3)
    assert payload["status"][TASK]["simpo"] == {"done": 2, "failed": 1, "running": 0, "corrupt": 1}
    assert payload["cost"][TASK]["simpo"]["forward_passes"]["relative_to_dpo"] == pytest.approx(0.5)
    assert payload["task_info"][TASK]["synthetic"] is True
    assert len(payload["warnings"]) == 2


def test_csv_is_long_form(run_dir: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(build_report(load_results(run_dir))))))
    cider = next(
        r for r in rows if r["section"] == "quality" and r["loss"] == "simpo" and r["metric"] == "CIDEr"
    )
    assert float(cider["mean"]) == 28.0
    assert float(cider["ci_half"]) == pytest.approx(T_975_1 * 2, abs=1e-3)
    assert cider["best"] == "False"  # the highest mean, not significantly the best
    speed = next(
        r for r in rows if r["section"] == "cost" and r["loss"] == "simpo" and r["metric"] == "tokens_per_s"
    )
    assert float(speed["relative_to_dpo"]) == pytest.approx(1350 / 1050)


def test_html_embeds_the_plots_and_bolds_no_overlapping_mean(run_dir: Path) -> None:
    page = render_html(build_report(load_results(run_dir)))
    images = page.split("src='data:image/png;base64,")[1:]
    assert len(images) == 2  # training curves, quality vs wall-clock
    for image in images:
        assert base64.b64decode(image.split("'")[0]).startswith(b"\x89PNG")
    assert "<td>28.00 ± 25.41</td>" in page and "<strong>41.0 ms (0.79x)</strong>" in page
    assert "SYNTHETIC" in page


def test_one_number_formatter() -> None:
    assert [format_number(v) for v in (34.7, 123.456, 0.3467, 0.0, -2.5)] == [
        "34.70",
        "123.5",
        "0.347",
        "0.00",
        "-2.50",
    ]
    assert format_mean(28.0, 25.4124, 2) == "28.00 ± 25.41"
    assert format_mean(0.5, None, 1) == "0.500 (n=1)"
    assert [format_cost(n, v) for n, v in (("time_per_step_s", 0.041), ("peak_memory_mb", 1234.4))] == [
        "41.0 ms",
        "1,234 MB",
    ]
    assert format_cost("tokens_per_s", 1350.0) == "1,350"
