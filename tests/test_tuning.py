"""Tuned mode (``--tune``): refused input, the grid of settings, selection on validation items only, the
report's tuned view, and one tiny end-to-end run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from typer.testing import CliRunner

from synpo_bench.budgets import Budget
from synpo_bench.cli import app
from synpo_bench.config import Cell, RunConfig
from synpo_bench.reports.reading import load_results
from synpo_bench.reports.render import render
from synpo_bench.reports.report import build_report
from synpo_bench.reports.tuning import parse_label, setting_label, validation_clips
from synpo_bench.train_settings import TrainSettings
from synpo_bench.tuning import loss_overrides, loss_settings, train_settings

runner = CliRunner()
SCRIPT = Path(sys.executable).parent / "synpo-bench"


# ------------------------------------------------------------------------------ refused before training


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tune", "foo=1,2"], "--tune foo: unknown key; tune lr, warmup_ratio"),
        (["--tune", "xyz.beta=0.1"], "--tune xyz.beta: unknown loss 'xyz'"),
        (["--tune", "ipo.tau=0.1,0.2"], "--tune ipo.tau: loss 'ipo' is not in --losses (dpo, synpo)"),
        (["--tune", "dpo.alpha=1,2"], "--tune dpo.alpha: loss 'dpo' has no hyper-parameter 'alpha'"),
        (["--tune", "lr="], "--tune lr: empty list"),
        (["--tune", "lr=1e-5,0.00001"], "--tune lr: value 1e-05 is listed twice"),
        (["--tune", "lr=0,1e-5"], "--tune lr=0.0: the peak learning rate (> 0); must be above 0"),
        (["--tune", "lr=1e-5,abc"], "--tune lr: 'abc' is not a number"),
        (["--tune", "lr=1e-5", "--tune", "lr=3e-5"], "--tune lr is given twice"),
        (["--tune", "lr"], "--tune 'lr' must look like KEY=V1,V2,..."),
        (["--param", "dpo.beta=0.2", "--tune", "dpo.beta=0.1,0.3"], "also fixed by --param dpo.beta"),
        (["--losses", "ipo", "--tune", "ipo.tau=0.1,0"], "--tune ipo.tau=0.0: loss 'ipo' rejects it"),
    ],
)
def test_bad_tune_is_one_line_exit_2_before_any_training(
    extra: list[str], message: str, tmp_path: Path
) -> None:
    args = ["run", "--tasks", "vdc", "--losses", "dpo,synpo", "--size", "tiny", "--budget", "steps=1"]
    args += ["--warm-start-steps", "2", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c")]
    result = runner.invoke(app, [*args, *extra], env={"COLUMNS": "400"})
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "c").exists()  # no warm start began
    assert not any((tmp_path / "out").glob("*/vdc"))  # no cell, no task folder


# ------------------------------------------------------------------------------------- the grid


def test_each_loss_trains_the_product_of_the_shared_and_its_own_values() -> None:
    tune = {"lr": (1e-5, 3e-5), "dpo.beta": (0.05, 0.1)}
    assert loss_settings(tune, "dpo") == [
        (("lr", 1e-5), ("dpo.beta", 0.05)),
        (("lr", 1e-5), ("dpo.beta", 0.1)),
        (("lr", 3e-5), ("dpo.beta", 0.05)),
        (("lr", 3e-5), ("dpo.beta", 0.1)),
    ]
    assert loss_settings(tune, "synpo") == [(("lr", 1e-5),), (("lr", 3e-5),)]
    assert loss_settings({}, "dpo") == [()]
    setting = (("lr", 3e-5), ("dpo.beta", 0.1))
    assert train_settings(TrainSettings(lr=1.0, batch_size=4), setting) == TrainSettings(
        lr=3e-5, batch_size=4
    )
    assert loss_overrides(setting, "dpo") == {"beta": 0.1} and loss_overrides(setting, "synpo") == {}
    config = RunConfig(losses=("dpo", "synpo"), tasks=("vdc",), seeds=(0, 1), tune=tune)
    cells = config.cells()
    assert len(cells) == (4 + 2) * 2
    assert Cell("vdc", "dpo", 1, setting).folder(Path("r")) == Path("r/vdc/dpo/lr=3e-05,dpo.beta=0.1/seed1")
    shards = [RunConfig(**{**config.__dict__, "shard": type(config.shard)(i, 3)}).cells() for i in range(3)]
    assert sorted(c.name for shard in shards for c in shard) == sorted(c.name for c in cells)


def test_a_shared_run_keeps_its_folders_and_run_id() -> None:
    config = RunConfig(
        losses=("dpo", "synpo"), tasks=("vdc",), size="tiny", budget=Budget("steps", 2), warm_start_steps=20
    )
    assert "tune" not in config.identity()
    # Pinned: adding --tune left these ids as they were; they changed only with the default lr (3e-5).
    assert config.resolved_run_id() == "run-cba4314172"
    assert RunConfig().resolved_run_id() == "run-aef94ce2b9"
    assert [c.folder(Path("r")) for c in config.cells()] == [
        Path("r/vdc/dpo/seed0"),
        Path("r/vdc/synpo/seed0"),
    ]
    tuned = RunConfig(**{**config.__dict__, "tune": {"lr": (1e-5, 3e-5)}})
    more = RunConfig(**{**config.__dict__, "tune": {"lr": (1e-5, 3e-5, 1e-4)}})
    assert tuned.resolved_run_id() != config.resolved_run_id()
    assert tuned.resolved_run_id() == more.resolved_run_id()  # one more value reuses the finished settings


def test_labels_give_the_exact_values_back_and_ignore_the_order_given() -> None:
    values = {"lr": 3e-05, "dpo.beta": 0.1, "warmup_ratio": 1 / 3}
    label = setting_label(values)
    assert label == f"lr=3e-05,warmup_ratio={1 / 3!r},dpo.beta=0.1"
    assert parse_label(label) == values
    assert setting_label(dict(reversed(values.items()))) == label
    assert parse_label("seed0") is None


def test_the_split_depends_on_the_clips_and_the_data_seed_only() -> None:
    clips = [f"clip{i}" for i in range(10)]
    validation = validation_clips(clips, 0)
    assert len(validation) == 5 and validation == validation_clips(reversed(clips), 0)
    assert validation != validation_clips(clips, 1)
    assert len(validation_clips(["a", "b"], 0)) == 1 and validation_clips(["a"], 0) == set()


# ---------------------------------------------------------------------- selection on hand-made results

CLIPS = [f"clip{i}" for i in range(8)]
VALIDATION = validation_clips(CLIPS, 0)
SETTINGS = {"lr=1e-05": (80.0, 0.0, 10.0), "lr=3e-05": (60.0, 100.0, 30.0)}
"""label -> (mean_accuracy on validation items, on test items, training wall-clock): the validation part
prefers lr=1e-05, the test part (and every item together) lr=3e-05."""


def write_items(folder: Path, on_validation: float, on_test: float) -> None:
    lines = []
    for clip in CLIPS:
        value = on_validation if clip in VALIDATION else on_test
        lines.append(json.dumps({"clip_id": clip, "dimension": "short", "scores": {"mean_accuracy": value}}))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "item_scores.jsonl").write_text("\n".join(lines) + "\n")


def write_tuned_run(run: Path, settings: dict[str, tuple[float, float, float]]) -> None:
    for loss in ("dpo", "synpo"):
        for label, (on_validation, on_test, wall) in settings.items():
            folder = run / "vdc" / loss / label / "seed0"
            write_items(folder, on_validation, on_test)
            mean = (on_validation + on_test) / 2
            base = {"run_id": "run-t", "task": "vdc", "loss": loss, "seed": 0, "setting": parse_label(label)}
            manifest = {**base, "config": {"data_seed": 0, "tune": ["lr"]}, "budget": {"kind": "steps"}}
            result = {**base, "status": "done", "quality": {"mean_accuracy": mean, "BLEU-4": 1.0}}
            result["cost"] = {"wall_clock_s": wall, "time_per_step_s": wall / 2}
            (folder / "manifest.json").write_text(json.dumps(manifest))
            (folder / "result.json").write_text(json.dumps(result))
    write_items(run / "vdc", 50.0, 50.0)
    (run / "vdc" / "task.json").write_text(json.dumps({"start_quality": {"mean_accuracy": 50.0}}))


def test_selection_chooses_on_validation_items_and_reports_test_items(tmp_path: Path) -> None:
    write_tuned_run(tmp_path / "run-t", SETTINGS)
    results = load_results(tmp_path / "run-t")
    tuning = results.tuning
    assert tuning is not None
    choice = tuning.tasks["vdc"].choice("dpo")
    assert choice is not None and choice.chosen == "lr=1e-05"  # test items (and all items) prefer 3e-05
    assert choice.setting("lr=1e-05").mean == 80.0
    assert (choice.wall_clock_all_s, choice.wall_clock_chosen_s, choice.extra_wall_clock_s) == (40, 10, 30)
    assert list(results.cells["loss"]) == ["dpo", "synpo"]  # one cell per loss and seed
    assert list(results.cells["quality:mean_accuracy"]) == [0.0, 0.0]  # the chosen setting on test items
    assert results.start["vdc"]["mean_accuracy"] == 50.0
    test_clips = set(CLIPS) - VALIDATION
    for frame in (*results.items.values(), results.start_items["vdc"]):
        assert set(frame.index.get_level_values("clip_id")) == test_clips
    assert tuning.tasks["vdc"].not_split == ["BLEU-4"]
    report = build_report(results)
    entry = report.paired.entry("vdc", "dpo", "start", "mean_accuracy")
    assert entry is not None and entry["n_items"] == len(test_clips) and entry["difference"] == -50.0


def test_selection_never_reads_test_items(tmp_path: Path) -> None:
    """Whatever the test items say, the choice and the validation scores stay the same."""
    write_tuned_run(tmp_path / "a" / "run-t", SETTINGS)
    flipped = {"lr=1e-05": (80.0, -500.0, 10.0), "lr=3e-05": (60.0, 900.0, 30.0)}
    write_tuned_run(tmp_path / "b" / "run-t", flipped)
    first, second = (load_results(tmp_path / x / "run-t").tuning for x in ("a", "b"))
    assert first is not None and second is not None
    for loss in ("dpo", "synpo"):
        a, b = first.tasks["vdc"].choice(loss), second.tasks["vdc"].choice(loss)
        assert a is not None and b is not None
        assert a.chosen == b.chosen == "lr=1e-05"
        assert [s.scores for s in a.settings] == [s.scores for s in b.settings]


def test_a_tie_on_validation_is_named(tmp_path: Path) -> None:
    write_tuned_run(tmp_path / "run-t", {"lr=1e-05": (70.0, 0.0, 1.0), "lr=3e-05": (70.0, 99.0, 1.0)})
    tuning = load_results(tmp_path / "run-t").tuning
    assert tuning is not None
    assert (
        "dpo: 2 settings tie on validation (lr=1e-05, lr=3e-05); lr=1e-05 was taken by the tie rule"
        in (tuning.tasks["vdc"].notes)[0]
    )


def test_the_report_labels_the_mode_and_shows_choices_and_cost(tmp_path: Path) -> None:
    write_tuned_run(tmp_path / "run-t", SETTINGS)
    report = build_report(load_results(tmp_path / "run-t"))
    text = render(report, "table")
    assert "mode: tuned" in text and "vdc: tuned settings" in text and "[tuned, test part]" in text
    assert "lr=1e-05" in text and "+30.0 s (4.0x)" in text and "40.0 s" in text
    assert "BLEU-4 are measured on every evaluation item" in " ".join(text.split())
    payload = json.loads(render(report, "json"))
    assert payload["mode"] == "tuned"
    dpo = payload["tuning"]["vdc"]["losses"]["dpo"]
    assert dpo["chosen"] == "lr=1e-05" and dpo["values"] == {"lr": 1e-05} and dpo["validation_score"] == 80
    assert dpo["extra_wall_clock_s"] == 30
    csv_rows = [line for line in render(report, "csv").splitlines() if line.startswith("tuning,")]
    assert len(csv_rows) == 4
    for output_format in ("markdown", "html"):
        assert "mode: tuned" in render(report, output_format)


def test_a_shared_report_says_shared(tmp_path: Path) -> None:
    folder = tmp_path / "run-s" / "vdc" / "dpo" / "seed0"
    write_items(folder, 1.0, 2.0)
    (folder / "result.json").write_text(json.dumps({"status": "done", "quality": {"mean_accuracy": 1.5}}))
    report = build_report(load_results(tmp_path / "run-s"))
    assert report.tuning is None and "mode: shared" in render(report, "table")
    assert json.loads(render(report, "json"))["tuning"] is None


# ---------------------------------------------------------------------------------------- end to end


def test_a_tiny_tuned_run_reports_tuned_choices_and_cost(tmp_path: Path) -> None:
    args = ["run", "--tasks", "vdc", "--losses", "dpo,synpo", "--tune", "lr=1e-5,1e-4", "--size", "tiny"]
    args += ["--budget", "steps=2", "--warm-start-steps", "20", "--out", str(tmp_path / "out")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    command = [str(SCRIPT), *args, "--cache-dir", str(tmp_path / "cache")]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    (run,) = (tmp_path / "out").iterdir()
    for loss in ("dpo", "synpo"):
        for label, lr in (("lr=1e-05", 1e-5), ("lr=0.0001", 1e-4)):
            manifest = json.loads((run / "vdc" / loss / label / "seed0" / "manifest.json").read_text())
            assert manifest["setting"] == {"lr": lr}
    assert "vdc: tuned, chosen by mean_accuracy on the validation part" in completed.stdout
    report = subprocess.run(
        [str(SCRIPT), "report", str(run), "--format", "markdown"], capture_output=True, text=True, env=env
    )
    assert report.returncode == 0, report.stderr
    text = report.stdout
    assert "mode: tuned" in text and "## vdc: tuned settings" in text
    assert "| dpo | lr=" in text and "| synpo | lr=" in text  # each loss's chosen values
    assert "training: all" in text and "| +" in text  # the extra cost
