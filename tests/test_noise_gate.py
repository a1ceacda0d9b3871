"""The noise-aware gate (reports/noise.py, the ``baseline`` command, ``check`` on a format-2 baseline) over
the fake run of tests/_results_factory.py, with its numbers worked by hand:

    vatex, done cells: dpo CIDEr 20, 22 (mean 21), simpo 30, 26 (mean 28)
    pooled within-loss sd of CIDEr = sqrt(((20-21)^2 + (22-21)^2 + (30-28)^2 + (26-28)^2) / (1 + 1))
                                   = sqrt(10 / 2) = sqrt(5) = 2.2361; band 3 sd = 6.7082
    BLEU-4: dpo 10, 14 (12), simpo 9, 11 (10): the same sd, sqrt((4 + 4 + 1 + 1) / 2) = sqrt(5)
    speed vs dpo: simpo 0.050/0.040 = 1.25 and 0.054/0.042 = 1.2857; forward passes vs dpo: 20/10 = 2
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from synpo_bench.cli.baseline import baseline_command
from synpo_bench.cli.report import check_command
from synpo_bench.reports.baseline import check_results
from synpo_bench.reports.noise import MARGIN, PASSES, SPEED, noise_baseline
from synpo_bench.reports.reading import load_results
from tests._results_factory import TASK, standard_run

app = typer.Typer()
app.command("baseline")(baseline_command)
app.command("check")(check_command)
runner = CliRunner()
SD = math.sqrt(5)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return standard_run(tmp_path / "results")


@pytest.fixture
def payload(run_dir: Path) -> dict:
    return noise_baseline([load_results(run_dir)])


def test_the_baseline_holds_means_and_the_pooled_within_loss_sd(payload: dict) -> None:
    assert payload["format_version"] == 2 and payload["band"] == 3.0
    assert payload["tasks"][TASK]["dpo"]["CIDEr"] == pytest.approx(21.0)
    assert payload["tasks"][TASK]["simpo"]["CIDEr"] == pytest.approx(28.0)
    assert payload["noise"][TASK]["CIDEr"] == pytest.approx(SD)
    assert payload["noise"][TASK]["BLEU-4"] == pytest.approx(SD)
    assert payload["tasks"][TASK]["simpo"][SPEED] == pytest.approx((1.25 + 0.054 / 0.042) / 2)
    assert payload["tasks"][TASK]["simpo"][PASSES] == pytest.approx(2.0)
    assert payload["cells"][TASK] == {"dpo": 2, "simpo": 2}  # done cells only
    assert payload["gated"][TASK] == ["CIDEr", "BLEU-4", "fact_accuracy", PASSES]


def write(path: Path, payload: dict) -> Path:
    path.write_text(json.dumps(payload))
    return path


@pytest.mark.parametrize(("above", "regressed"), [(-0.05, False), (0.05, True)], ids=["inside", "outside"])
def test_a_headline_metric_regresses_only_beyond_its_band(
    run_dir: Path, payload: dict, tmp_path: Path, above: float, regressed: bool
) -> None:
    payload["tasks"][TASK]["simpo"]["CIDEr"] = 28.0 + 3 * SD + above  # current mean stays 28
    gate, _ = check_results(run_dir, write(tmp_path / "b.json", payload))
    assert gate.mode == "noise"
    assert [(r.loss, r.metric) for r in gate.regressions] == ([("simpo", "CIDEr")] if regressed else [])
    if regressed:
        assert "band 6.708: 1.0x the band" in gate.regressions[0].describe()


def test_a_metric_that_is_not_gated_is_reported_not_failed(
    run_dir: Path, payload: dict, tmp_path: Path
) -> None:
    payload["gated"][TASK] = ["CIDEr"]
    payload["tasks"][TASK]["dpo"]["BLEU-4"] = 12.0 + 3 * SD + 1.0
    gate, _ = check_results(run_dir, write(tmp_path / "b.json", payload))
    assert gate.passed and gate.regressions == []
    assert [(o.loss, o.metric) for o in gate.reported] == [("dpo", "BLEU-4")]


def test_more_forward_passes_fail_exactly_and_a_gross_slowdown_is_reported(
    run_dir: Path, payload: dict, tmp_path: Path
) -> None:
    payload["tasks"][TASK]["simpo"][PASSES] = 2.5  # the baseline's simpo needed fewer passes than today's
    speed = payload["tasks"][TASK]["simpo"][SPEED]
    # Today's simpo 2.5x slower relative to dpo: fell 1.5 x speed, beyond the floor of 50% of 2.5 x speed.
    payload["tasks"][TASK]["simpo"][SPEED] = speed * 2.5
    gate, _ = check_results(run_dir, write(tmp_path / "b.json", payload))
    assert [r.metric for r in gate.regressions] == [PASSES]
    assert [o.metric for o in gate.reported] == [SPEED]
    payload["tasks"][TASK]["simpo"][SPEED] = speed * 1.4  # fell 0.4 x speed: inside 50% of 1.4 x speed
    payload["tasks"][TASK]["simpo"][PASSES] = 2.0
    gate, _ = check_results(run_dir, write(tmp_path / "b.json", payload))
    assert gate.passed and not gate.reported, [r.describe() for r in gate.regressions]


def test_a_run_from_another_start_is_not_compared_silently(
    run_dir: Path, payload: dict, tmp_path: Path
) -> None:
    payload["inputs"] = {TASK: {"warm_start": "another-key", "data_hash": "x"}}
    gate, _ = check_results(run_dir, write(tmp_path / "b.json", payload))
    assert not gate.passed and "make ci-baseline" in gate.missing[0]


def test_the_baseline_and_check_commands(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "noise.json"
    made = runner.invoke(app, ["baseline", str(run_dir), str(run_dir), "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert "8 cells of 2 run(s)" in made.output
    checked = runner.invoke(app, ["check", "--baseline", str(out), str(run_dir)])
    assert checked.exit_code == 0, checked.output
    assert "standard deviations of its measured noise" in checked.output and "no regression" in checked.output
    bad = runner.invoke(app, ["baseline", str(run_dir), "--out", str(out), "--band", "0"])
    assert bad.exit_code == 2 and "--band 0" in bad.output


def test_the_held_out_preference_margin_is_gated_where_the_runs_measured_it(
    run_dir: Path, tmp_path: Path
) -> None:
    # A loss trained the wrong way round lowers the held-out margin; the margin is gated beside the
    # headline. Margins: dpo 0.10, 0.12 (mean 0.11), simpo 0.20, 0.16 (0.18): pooled sd
    # sqrt((0.0001 + 0.0001 + 0.0004 + 0.0004) / 2) = sqrt(0.0005) = 0.02236, band 0.06708.
    margins = {("dpo", 0): 0.10, ("dpo", 1): 0.12, ("simpo", 0): 0.20, ("simpo", 1): 0.16}
    for (loss, seed), margin in margins.items():
        path = run_dir / TASK / loss / f"seed{seed}" / "result.json"
        cell = json.loads(path.read_text())
        cell["quality"][MARGIN] = margin
        path.write_text(json.dumps(cell))
    payload = noise_baseline([load_results(run_dir)])
    assert payload["gated"][TASK] == ["CIDEr", "BLEU-4", "fact_accuracy", MARGIN, PASSES]
    assert payload["noise"][TASK][MARGIN] == pytest.approx(math.sqrt(0.0005))
    payload["tasks"][TASK]["simpo"][MARGIN] = 0.18 + 3 * math.sqrt(0.0005) + 0.001
    gate, _ = check_results(run_dir, write(tmp_path / "b.json", payload))
    assert [(r.loss, r.metric) for r in gate.regressions] == [("simpo", MARGIN)]
