"""``--report-to``: one tracker run per cell through accelerate (TensorBoard read back from its event
files), refused before any work when unknown or not installed, and never part of results or run ids."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from accelerate import Accelerator
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from synpo_bench import trackers
from synpo_bench.cli import app
from synpo_bench.config import Cell, RunConfig
from tests.test_end_to_end import cli, metrics_without_time

runner = CliRunner()
TEXT_RUN = ["--tasks", "textpref", "--size", "tiny", "--budget", "steps=2", "--warm-start-steps", "20"]
CELL = Path("textpref") / "synpo" / "seed0"


def test_an_unknown_tracker_is_one_line_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--report-to", "tensorboard,neptune", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        "error: --report-to: unknown tracker 'neptune'; choose from tensorboard, wandb, trackio, mlflow"
    )
    assert not out.exists()


def test_a_tracker_not_installed_is_one_line_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(trackers.TRACKERS, "mlflow", (lambda: False, "pip install mlflow"))
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--report-to", "mlflow", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert (
        result.output.strip()
        == "error: --report-to mlflow: its package is not installed here (pip install mlflow)"
    )
    assert not out.exists()


def test_trackers_are_not_part_of_the_run_id() -> None:
    assert RunConfig(report_to=("tensorboard", "wandb")).resolved_run_id() == RunConfig().resolved_run_id()


def test_a_tuned_cell_is_tagged_with_its_setting() -> None:
    cell = Cell("vdc", "dpo", 1, (("lr", 3e-5), ("dpo.beta", 0.1)))
    tags = trackers.cell_tags("run-x", cell)
    assert tags == {
        "run_id": "run-x",
        "task": "vdc",
        "loss": "dpo",
        "seed": 1,
        "setting": cell.label,
        "setting.lr": 3e-5,
        "setting.dpo.beta": 0.1,
    }


@pytest.fixture(scope="module")
def tracked_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same tiny textpref cell with and without TensorBoard (one cache: one warm start)."""
    root = tmp_path_factory.mktemp("trackers")
    cache = root / "cache"
    runs = []
    for name, extra in (("tracked", ["--report-to", "tensorboard"]), ("plain", [])):
        completed: subprocess.CompletedProcess[str] = cli(
            "run", *TEXT_RUN, "--losses", "synpo", "--out", str(root / name), *extra, cache=cache
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        (run_dir,) = (root / name).iterdir()
        runs.append(run_dir)
    return runs[0], runs[1]


def test_tensorboard_gets_every_step_and_the_final_quality_and_cost(tracked_runs: tuple[Path, Path]) -> None:
    run_dir, _ = tracked_runs
    events = run_dir / "tensorboard" / CELL / trackers.PROJECT
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    steps = [json.loads(line) for line in (run_dir / CELL / "metrics.jsonl").read_text().splitlines()]
    for key in ("loss", "margin", "accuracy", "lr", "grad_norm", "pairs_seen"):
        logged = [(event.step, event.value) for event in accumulator.Scalars(key)]
        assert logged == [(row["step"], pytest.approx(row[key], rel=1e-6)) for row in steps], key
    result = json.loads((run_dir / CELL / "result.json").read_text())
    for metric, value in result["quality"].items():
        (event,) = accumulator.Scalars(f"quality/{metric}")
        assert event.step == 2 and event.value == pytest.approx(value, rel=1e-6)
    (wall,) = accumulator.Scalars("cost/wall_clock_s")
    assert wall.value == pytest.approx(result["cost"]["wall_clock_s"], rel=1e-6)
    (hparams,) = events.glob("*/hparams.yml")  # accelerate's record of the run's tags
    assert yaml.safe_load(hparams.read_text()) == {
        "run_id": run_dir.name,
        "task": "textpref",
        "loss": "synpo",
        "seed": 0,
    }


def test_tracking_changes_neither_results_nor_run_id(tracked_runs: tuple[Path, Path]) -> None:
    tracked, plain = tracked_runs
    assert tracked.name == plain.name
    assert metrics_without_time(tracked / CELL / "metrics.jsonl") == metrics_without_time(
        plain / CELL / "metrics.jsonl"
    )
    quality = [json.loads((run / CELL / "result.json").read_text())["quality"] for run in tracked_runs]
    assert quality[0] == quality[1]
    assert not (plain / "tensorboard").exists()


@pytest.mark.parametrize("name", ["wandb", "trackio", "mlflow"])
def test_other_trackers_open_log_and_close_a_cell_run(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only where the tracker is installed (not in this project's own environment); offline, on disk."""
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    config = RunConfig(report_to=(name,), out=tmp_path)
    accelerator = Accelerator(cpu=True, **trackers.accelerator_options(config, tmp_path))
    with trackers.cell_tracking(accelerator, tmp_path, "run-x", Cell("vdc", "dpo", 0)):
        assert len(accelerator.trackers) == 1
        trackers.log_step(accelerator, 1, {"loss": 0.5, "batch_hash": "sha256:0"})
        trackers.log_result(accelerator, {"quality": {"mean_accuracy": 40.0}, "cost": {"steps": 1}})
    assert accelerator.trackers == []
