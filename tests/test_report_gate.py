"""The regression gate (reports/baseline.py) and the ``report`` / ``check`` commands
(synpo_bench/cli/report.py) over the fake results folders of tests/_results_factory.py; numbers as in
tests/test_reports.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from synpo_bench.cli.report import check_command, report_command
from synpo_bench.reports.baseline import compare
from tests._results_factory import TASK, standard_run

app = typer.Typer()
app.command("report")(report_command)
app.command("check")(check_command)
runner = CliRunner()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return standard_run(tmp_path / "results")


# ------------------------------------------------------------------------------------------------ gate


def test_relative_and_absolute_tolerances_by_hand() -> None:
    baseline = {TASK: {"simpo": {"CIDEr": 28.0}}}
    current = {TASK: {"simpo": {"CIDEr": 27.5}}}  # a fall of 0.5
    assert compare(current, baseline, 0.02, "relative").passed  # allowed 0.02 * 28 = 0.56
    assert compare(current, {TASK: {"simpo": {"CIDEr": 26.0}}}, 0.0, "relative").passed  # a rise never fails
    assert not compare(current, baseline, 0.015, "relative").passed  # allowed 0.42
    assert not compare(current, baseline, 0.02, "absolute").passed
    assert compare(current, baseline, 0.5, "absolute").passed  # not *more* than 0.5
    regression = compare(current, baseline, 0.02, "absolute").regressions[0]
    assert (regression.task, regression.loss, regression.metric) == (TASK, "simpo", "CIDEr")
    assert (regression.baseline, regression.current) == (28.0, 27.5)


def test_metrics_on_one_side_only_are_warnings() -> None:
    gate = compare(
        {TASK: {"dpo": {"CIDEr": 1.0, "BLEU-4": 1.0}}},
        {TASK: {"dpo": {"CIDEr": 1.0, "METEOR": 1.0}, "orpo": {"CIDEr": 1.0}}, "vdc": {}},
    )
    assert gate.passed and gate.compared == 1
    assert sorted(gate.warnings) == sorted(
        [
            f"{TASK}/dpo/METEOR is missing from the results; not checked",
            f"{TASK}/orpo is missing from the results; not checked",
            "task 'vdc' is missing from the results; not checked",
            f"{TASK}/dpo/BLEU-4 is missing from the baseline; not gated",
        ]
    )


# ------------------------------------------------------------------------------------------------- CLI


def write_baseline(path: Path, tasks: dict) -> Path:
    path.write_text(json.dumps({"tasks": tasks}))
    return path


def test_check_passes_on_its_own_report(run_dir: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    made = runner.invoke(app, ["report", str(run_dir), "--format", "json", "--out", str(baseline)])
    assert made.exit_code == 0, made.output
    checked = runner.invoke(app, ["check", "--baseline", str(baseline), str(run_dir.parent)])
    assert checked.exit_code == 0, checked.output
    assert "checked 4 metric(s) of run run-fake" in checked.output
    assert "no regression" in checked.output


def test_check_exits_1_naming_every_regressed_metric(run_dir: Path, tmp_path: Path) -> None:
    baseline = write_baseline(
        tmp_path / "b.json",
        {TASK: {"dpo": {"CIDEr": 21.0, "BLEU-4": 13.0}, "simpo": {"CIDEr": 30.0, "BLEU-4": 10.1}}},
    )
    result = runner.invoke(app, ["check", "--baseline", str(baseline), "--tolerance", "0.05", str(run_dir)])
    assert result.exit_code == 1, result.output
    # 12 < 13 - 0.65 and 28 < 30 - 1.5 regress; 10 >= 10.1 - 0.505 and 21 = 21 pass
    assert "regressed: vatex/dpo/BLEU-4: baseline 13 -> current 12" in result.output
    assert "regressed: vatex/simpo/CIDEr: baseline 30 -> current 28" in result.output
    assert "2 metric(s) regressed" in result.output
    absolute = runner.invoke(
        app,
        [
            "check",
            "--baseline",
            str(baseline),
            "--tolerance",
            "2",
            "--absolute",
            "--allow-missing",
            str(run_dir),
        ],
    )
    assert absolute.exit_code == 0, absolute.output


def test_a_crashed_or_missing_loss_fails_the_gate_unless_allowed(run_dir: Path, tmp_path: Path) -> None:
    """The fake run's simpo seed2 failed and seed3 is corrupt, dpo seed2 never finished, and it has no
    orpo at all: a hand-written baseline (no status section) allows none of that."""
    baseline = write_baseline(
        tmp_path / "b.json",
        {TASK: {"dpo": {"CIDEr": 21.0}, "simpo": {"CIDEr": 20.0}, "orpo": {"CIDEr": 1.0}}},
    )
    result = runner.invoke(app, ["check", "--baseline", str(baseline), str(run_dir)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "missing: vatex/orpo: no cell in the results" in text
    assert "missing: vatex/simpo: seed2 failed (non-finite loss (nan) (step 3)); seed3 has a corrupt" in text
    assert "missing: vatex/dpo: seed2 has no result.json" in text
    assert "3 loss(es) of the baseline with a failed or missing cell" in text
    assert "no regression" not in text and "not checked" not in text
    allowed = runner.invoke(app, ["check", "--baseline", str(baseline), "--allow-missing", str(run_dir)])
    assert allowed.exit_code == 0, allowed.output
    assert "vatex/orpo: no cell in the results; not checked (--allow-missing)" in allowed.output
    assert "no regression" in allowed.output


def test_only_a_loss_of_the_baseline_crashes_fails_the_gate(run_dir: Path, tmp_path: Path) -> None:
    """A baseline from the run's own report carries its failed cells: only a new crash fails."""
    baseline = tmp_path / "baseline.json"
    made = runner.invoke(app, ["report", str(run_dir), "--format", "json", "--out", str(baseline)])
    assert made.exit_code == 0, made.output
    (run_dir / TASK / "dpo" / "seed0" / "result.json").write_text('{"status": "done", "qual')
    result = runner.invoke(app, ["check", "--baseline", str(baseline), str(run_dir)])
    assert result.exit_code == 1, result.output
    assert "missing: vatex/dpo: seed0 has a corrupt result.json; seed2 has no result.json" in result.output
    assert "vatex/simpo" not in result.output.split("checked ")[-1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ('{"tasks": {', "is not valid JSON"),
        ('{"runs": {}}', "has no 'tasks' object"),
        ('{"tasks": {"vdc": {"dpo": {"accuracy": 1.0}}}}', "nothing to compare"),
    ],
)
def test_check_with_unusable_baseline_is_one_line_exit_2(
    run_dir: Path, tmp_path: Path, content: str | None, message: str
) -> None:
    baseline = tmp_path / "baseline.json"
    if content is not None:
        baseline.write_text(content)
    result = runner.invoke(app, ["check", "--baseline", str(baseline), str(run_dir)])
    assert result.exit_code == 2
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert "Traceback" not in result.output


def test_report_user_mistakes_are_one_line_exit_2(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert f"error: results folder '{tmp_path / 'nope'}' does not exist" in missing.output
    empty = runner.invoke(app, ["report", str(tmp_path)])
    assert empty.exit_code == 2 and "no results in" in empty.output
    standard_run(tmp_path / "results")
    bad_format = runner.invoke(app, ["report", str(tmp_path / "results"), "--format", "xml"])
    assert bad_format.exit_code == 2 and "--format 'xml': choose one of table" in bad_format.output
    assert "Traceback" not in missing.output + empty.output + bad_format.output


def test_report_table_prints_warnings_and_saves_the_bundle(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["report", str(run_dir.parent)])
    assert result.exit_code == 0, result.output
    assert "28.00 ± 25.41" in result.output
    assert f"warning: {run_dir / TASK / 'simpo' / 'seed3' / 'result.json'}: corrupt" in result.output
    for name in ("report.md", "report.csv", "report.json", "report.html"):
        assert (run_dir / name).is_file(), name
