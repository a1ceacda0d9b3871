"""Cells trained data-parallel by several processes (``accelerate launch``), through the real CLI, on CPU
with gloo: the same steps as one process over the whole batch, one result set, and a launch the machine
cannot run refused in one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from synpo_bench.cli import app

BIN = Path(sys.executable).parent
RUN = ["run", "--size", "tiny", "--tasks", "textpref", "--losses", "synpo", "--budget", "steps=3"]
RUN += ["--warm-start-steps", "20", "--device", "cpu"]
STEPS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)


def _cell(out: Path) -> Path:
    (cell,) = out.glob("*/textpref/synpo/seed0")
    return cell


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (_cell(out) / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same cell twice: one process x batch 8, and two processes x batch 4 (8 pairs per step)."""
    cache, one, two = (tmp_path_factory.mktemp(name) for name in ("cache", "one", "two"))
    common = [*RUN, "--cache-dir", str(cache)]
    single = _run([str(BIN / "synpo-bench"), *common, "--batch-size", "8", "--out", str(one)])
    assert single.returncode == 0, single.stderr[-3000:]
    launch = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port())]
    double = _run([*launch, "-m", "synpo_bench", *common, "--batch-size", "4", "--out", str(two)])
    assert double.returncode == 0, double.stderr[-3000:]
    return one, two


def test_two_processes_take_the_steps_of_one_process_on_the_whole_batch(runs: tuple[Path, Path]) -> None:
    one, two = (_metrics(out) for out in runs)
    assert len(one) == len(two) == STEPS
    assert two[0]["loss"] == pytest.approx(one[0]["loss"], rel=1e-6, abs=1e-7)
    for single, double in zip(one, two, strict=True):
        # The same pairs in the same order, the same schedule, and a trajectory equal to float precision.
        for key in ("batch_hash", "lr", "pairs_seen", "tokens", "step"):
            assert double[key] == single[key], key
        for key in ("loss", "margin", "grad_norm", "negative_dominance", "logit_grad_norm_chosen"):
            assert double[key] == pytest.approx(single[key], rel=1e-4, abs=1e-6), key


def test_two_processes_write_one_result_set_with_the_split_recorded(runs: tuple[Path, Path]) -> None:
    one, two = runs
    for out in runs:
        assert len(list(out.glob("*/textpref/*/seed*/manifest.json"))) == 1
        assert len(list(out.glob("*/textpref/*/seed*/result.json"))) == 1
        steps = [row["step"] for row in _metrics(out)]
        assert steps == list(range(1, STEPS + 1))  # no line written twice
        assert not list(out.glob("*/textpref/*/seed*/claim.json"))
    cell = _cell(two)
    manifest = json.loads((cell / "manifest.json").read_text())
    result = json.loads((cell / "result.json").read_text())
    assert result["status"] == "done" and result["quality"]
    split = manifest["parallel"]
    assert split["processes"] == 2 and split["per_process_batch_size"] == 4
    assert split["pairs_per_step"] == 8 and split["pairs_per_process_per_step"] == 4
    assert "peak_memory_mb" in split["per_process_cost"]
    assert result["parallel"] == split
    assert manifest["config"]["processes"] == 2
    cost, single = result["cost"], json.loads((_cell(one) / "result.json").read_text())["cost"]
    # Per-rank work halves: each process takes 4 of the step's 8 pairs; pairs and tokens are the run's.
    assert (cost["processes"], cost["pairs_per_step"], cost["pairs_per_process_per_step"]) == (2, 8, 4)
    assert (cost["pairs_seen"], cost["tokens"]) == (single["pairs_seen"], single["tokens"])
    assert "processes" not in single
    assert "parallel" not in json.loads((_cell(one) / "manifest.json").read_text())
    assert _cell(one).parent.parent.parent.name != cell.parent.parent.parent.name  # not one run id


LAUNCHED = {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without CUDA")
def test_a_gpu_launch_on_a_machine_without_gpus_is_one_line(tmp_path: Path) -> None:
    """The main process of a 2-process launch without --device cpu, as accelerate launch starts it: one
    line and exit 2 before any process group waits for the other (a subprocess: it would hang, not fail)."""
    env = {**LAUNCHED, "RANK": "0", "MASTER_PORT": str(_free_port())}
    args = [a for a in RUN if a not in ("--device", "cpu")]
    completed = _run([str(BIN / "synpo-bench"), *args, "--out", str(tmp_path / "out")], env)
    assert completed.returncode == 2
    (line,) = completed.stderr.strip().splitlines()
    assert "2 processes were launched for GPUs, but this machine has no CUDA device" in line
    assert "--device cpu" in line
    assert not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("*.toml"))


def test_the_other_processes_exit_2_in_silence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every process meets the same mistake; only the main one prints it."""
    for key, value in {**LAUNCHED, "RANK": "1", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = CliRunner().invoke(app, [*RUN[:-2], "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.output == ""


def test_more_processes_than_gpus_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in {**LAUNCHED, "RANK": "0", "LOCAL_WORLD_SIZE": "4", "WORLD_SIZE": "4"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    args = [a for a in RUN if a not in ("--device", "cpu")]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "4 processes were launched on this machine, but it has 2 CUDA device(s)" in result.output
    assert "--num_processes 2" in result.output
    result = CliRunner().invoke(app, [*RUN[:-2], "--device", "cuda:1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "each process takes its own GPU" in result.output
