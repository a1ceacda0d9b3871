"""The command line as a user meets it: help, version, listing, and one-line errors with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synpo_bench import __version__
from synpo_bench.api.losses import list_losses
from synpo_bench.cli import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "list"):
        assert command in result.output


def test_list_losses_shows_every_loss_with_reference_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    result = runner.invoke(app, ["list", "losses"])
    assert result.exit_code == 0
    for name in list_losses():
        assert f" {name} " in result.output
    synpo_row = next(line for line in result.output.splitlines() if " synpo " in line)
    assert "free" in synpo_row and "alpha=30" in synpo_row
    assert "2506.00835" in result.output
    dpo_row = next(line for line in result.output.splitlines() if " dpo " in line)
    assert "needed" in dpo_row and "beta=0.1" in dpo_row


def test_unknown_list_kind_is_one_line_exit_2() -> None:
    result = runner.invoke(app, ["list", "lossez"])
    assert result.exit_code == 2
    assert "cannot list 'lossez'; choose one of: losses, tasks" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--losses", "dpo,dpoo"], "unknown loss 'dpoo'; valid losses: apo_zero, cdpo"),
        (["--budget", "minutes=3"], "budget 'minutes=3' must look like steps=N"),
        (["--seeds", "a,b"], "--seeds 'a,b' must be comma-separated integers"),
        (["--param", "synpo.gamma=1"], "loss 'synpo' has no hyper-parameter 'gamma'; valid: alpha, beta"),
        (["--param", "synpo=1"], "--param 'synpo=1' must look like LOSS.NAME=NUMBER"),
        (["--ref-mode", "cached"], "--ref-mode 'cached': choose one of live, precomputed"),
        (["--shard", "4/4"], "--shard '4/4': need 0 <= i < n"),
        (["--data-dir", "/no/such/dir"], "--data-dir /no/such/dir: no such file or directory"),
        (["--plugin", "no_such_module_x"], "cannot import plug-in module 'no_such_module_x'"),
        (["--warm-start-steps", "-1"], "--warm-start-steps must be 0 (no warm start) or more, got -1"),
        (["--warm-start-batch-size", "0"], "--warm-start-batch-size must be at least 1, got 0"),
        (["--judge", "http://127.0.0.1:9/v1"], "--judge-model is required"),
        (["--tasks", "nlp:synpo_mc"], "nlp: tasks score the policies trained on a video task; add one"),
        (["--tasks", "vdc,nlp:"], "'nlp:' must be followed by lm-eval task names"),
        (["--tasks", "vdc,nlp:synpo_mcq"], "unknown lm-eval task 'synpo_mcq' (did you mean 'synpo_mc'"),
    ],
)
def test_run_rejects_bad_input_before_any_work(args: list[str], message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--out", str(tmp_path / "results"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_unwritable_output_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["run", "--losses", "dpo", "--out", str(blocker / "results")])
    assert result.exit_code == 2
    assert "is not writable" in result.output


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "synpo-bench"
    completed = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0 and __version__ in completed.stdout
