"""Bad inputs and faults as a user meets them (issue 14): one line and exit 2 instead of a traceback,
numbers that can never train refused up front, metrics and finished cells kept through a full disk, a
crash that fails the CI gate, and two runs sharing one results folder without training a cell twice."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from synpo_bench.api.io import DiskFullError, write_text_atomic
from synpo_bench.cli import app
from synpo_bench.run.claim import CLAIM_FILE, CellClaim, Owner, claim
from tests._results_factory import TASK, standard_run

runner = CliRunner()
SCRIPT = Path(sys.executable).parent / "synpo-bench"
QUICK = ["--size", "tiny", "--tasks", "vdc", "--budget", "steps=2", "--warm-start-steps", "20"]
"""Settings that keep a run that wrongly gets to work short (the tests then fail, not hang)."""


def run_cli(args: list[str], tmp_path: Path) -> str:
    """``synpo-bench run`` in-process; asserts one error line and exit 2; returns the output, flattened."""
    out = ["--out", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache")]
    result = runner.invoke(app, ["run", *QUICK, "--losses", "dpo", *out, *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert sum(line.startswith("error:") for line in result.output.splitlines()) == 1, result.output
    return " ".join(result.output.split())


def pair_line(clip_id: str = "vdc-0") -> str:
    return json.dumps({"clip_id": clip_id, "prompt": "Describe.", "chosen": "a red ball", "rejected": "x"})


# ------------------------------------------------------------------------- one line instead of a traceback


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "tpu"], "--device 'tpu': choose one of auto, cpu, cuda, cuda:N or mps"),
        (["--device", "cuda:x"], "--device 'cuda:x': choose one of"),
        (
            ["--seeds", "18446744073709551616"],
            "seed 18446744073709551616 is out of range",
        ),
        (["--seeds", "0,4294967296"], "seed 4294967296 is out of range; a seed is a 32-bit integer"),
        (["--lr", "-1"], "--lr -1.0: the learning rate must be a positive, finite number"),
        (["--lr", "nan"], "--lr nan: the learning rate must be a positive, finite number"),
        (["--lr", "0"], "--lr 0.0: the learning rate must be a positive"),
        (["--param", "dpo.beta=nan"], "--param dpo.beta=nan: must be a finite number"),
        (["--param", "dpo.beta=inf"], "--param dpo.beta=inf: must be a finite number"),
    ],
)
def test_numbers_and_devices_that_can_never_work_are_refused_up_front(
    args: list[str], message: str, tmp_path: Path
) -> None:
    assert message in run_cli(args, tmp_path)
    assert not (tmp_path / "cache").exists()  # refused before any work: no warm start was trained


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_mps_without_mps_is_refused_not_recorded(tmp_path: Path) -> None:
    assert "--device mps: MPS (Apple GPU) is not available on this machine" in run_cli(
        ["--device", "mps"], tmp_path
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"clip_id": "caf\xe9"}\n', "cannot read preference file"),
        (b"", "holds no pair (it is empty); nothing to train on"),
        (b'{"clip_id": \n[1]\n\n', "holds no usable pair: 2 malformed line(s), the first at"),
    ],
)
def test_an_unusable_pairs_file_is_named_before_any_work(
    content: bytes, message: str, tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_bytes(content)
    output = run_cli(["--pairs", str(pairs)], tmp_path)
    assert message in output and str(pairs) in output
    assert "threshold" not in output
    if b"[1]" in content:
        assert f"{pairs}:1: invalid JSON" in output
    assert not (tmp_path / "cache").exists()


def test_pairs_of_clips_the_task_does_not_have_are_refused_before_the_warm_start(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(pair_line("no-such-clip") + "\n" + pair_line("nor-this") + "\n")
    output = run_cli(["--pairs", str(pairs)], tmp_path)
    assert (
        f"--pairs {pairs}: 2 clip_id(s) are not clips of task 'vdc' (e.g. 'no-such-clip', 'nor-this')"
        in output
    )
    assert not (tmp_path / "cache" / "warmstart").exists()


def test_a_truncated_checkpoint_names_the_file(tmp_path: Path) -> None:
    from tests.test_model_checkpoints import save_llama_checkpoint

    model = tmp_path / "model"
    save_llama_checkpoint(model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # an interrupted copy
    output = run_cli(["--model", str(model)], tmp_path)
    assert f"weights file {weights} is damaged or truncated" in output


def test_report_renders_the_other_cells_and_names_a_non_finite_number(tmp_path: Path) -> None:
    run_dir = standard_run(tmp_path / "results")
    bad = run_dir / TASK / "dpo" / "seed1" / "result.json"
    payload = json.loads(bad.read_text())
    payload["quality"]["CIDEr"] = float("inf")
    bad.write_text(json.dumps(payload))  # Python writes Infinity, which json.loads reads back
    for output_format in ("json", "html", "table"):
        result = runner.invoke(app, ["report", str(run_dir), "--format", output_format])
        assert result.exit_code == 0, result.output
        assert f"{bad}: quality.CIDEr is inf, not a finite number; skipped" in " ".join(result.output.split())
    report = json.loads(runner.invoke(app, ["report", str(run_dir), "--format", "json"]).stdout)
    assert report["tasks"][TASK]["dpo"]["CIDEr"] == 20.0  # seed0 alone; BLEU-4 still from both seeds
    assert report["tasks"][TASK]["dpo"]["BLEU-4"] == 12.0


# --------------------------------------------------------------------------------------------- full disk


def test_a_full_disk_is_a_user_error_naming_the_folder_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "cell" / "result.json"
    write_text_atomic(target, "finished\n")

    def full(_descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError, match=f"no space left on the disk of {target.parent} .*run the same"):
        write_text_atomic(target, "half")
    assert target.read_text() == "finished\n"
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]  # no temporary file left


# ----------------------------------------------------------------------------------------- claims


def test_a_claim_is_exclusive_across_processes(tmp_path: Path) -> None:
    folder = tmp_path / "cell"
    mine = claim(folder)
    assert isinstance(mine, CellClaim)
    probe = "import sys; from pathlib import Path; from synpo_bench.run.claim import claim; "
    probe += "held = claim(Path(sys.argv[1])); print(type(held).__name__, getattr(held, 'pid', ''))"
    other = subprocess.run([sys.executable, "-c", probe, str(folder)], capture_output=True, text=True)
    assert other.stdout.split() == ["Owner", str(os.getpid())], other.stderr
    mine.release()
    assert not (folder / CLAIM_FILE).exists()
    other = subprocess.run([sys.executable, "-c", probe, str(folder)], capture_output=True, text=True)
    assert other.stdout.split() == ["CellClaim"], other.stderr


def dead_pid() -> int:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(finished.stdout)


def write_claim(folder: Path, pid: int, started: str = "") -> None:
    import socket

    folder.mkdir(parents=True, exist_ok=True)
    payload = {"pid": pid, "host": socket.gethostname(), "started": started, "token": f"test-{pid}"}
    (folder / CLAIM_FILE).write_text(json.dumps(payload))


def test_a_stale_claim_is_taken_over(tmp_path: Path) -> None:
    write_claim(tmp_path / "dead", dead_pid())
    assert isinstance(claim(tmp_path / "dead"), CellClaim)
    # A live pid, but reused: the claim's process started at another time.
    write_claim(tmp_path / "reused", os.getpid(), started="1")
    assert isinstance(claim(tmp_path / "reused"), CellClaim)
    write_claim(tmp_path / "live", os.getppid())
    held = claim(tmp_path / "live")
    assert isinstance(held, Owner) and held.pid == os.getppid()


# ------------------------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def cli(*args: str, cache: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})}
    command = [str(SCRIPT), "run", *QUICK, "--batch-size", "4", *args, "--cache-dir", str(cache)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment)


def test_a_second_run_skips_a_cell_a_live_run_trains_and_takes_over_a_killed_ones(
    tmp_path: Path, cache_dir: Path
) -> None:
    run_dir = tmp_path / "results" / "shared"
    write_claim(run_dir / "vdc" / "dpo" / "seed0", os.getpid())  # this test process: alive
    write_claim(run_dir / "vdc" / "simpo" / "seed0", dead_pid())  # left by a kill -9
    completed = cli(
        "--losses", "dpo,simpo", "--out", str(tmp_path / "results"), "--run-id", "shared", cache=cache_dir
    )
    assert completed.returncode == 0, completed.stderr
    stderr = " ".join(completed.stderr.split())
    assert f"skipped vdc/dpo/seed0: being trained by pid {os.getpid()} on" in stderr
    assert not (run_dir / "vdc" / "dpo" / "seed0" / "result.json").exists()
    assert (run_dir / "vdc" / "dpo" / "seed0" / CLAIM_FILE).exists()  # another process's claim is left alone
    simpo = run_dir / "vdc" / "simpo" / "seed0"
    assert json.loads((simpo / "result.json").read_text())["status"] == "done"
    assert not (simpo / CLAIM_FILE).exists()  # released when the cell ended


def test_a_full_disk_mid_run_is_one_line_and_keeps_finished_cells(tmp_path: Path, cache_dir: Path) -> None:
    """The second cell's metrics write meets a full disk: the run stops with one line naming the
    folder (exit 2), the first cell's result stays, and the second has none, so a re-run redoes it."""
    plugin = tmp_path / "plugins"
    plugin.mkdir()
    (plugin / "full_disk_plugin.py").write_text(
        textwrap.dedent(
            """
            import errno, os
            import synpo_bench.run.cell as cell

            real = cell.train_cell

            def train_cell(**kwargs):
                if kwargs["loss"].name == "simpo":
                    path = kwargs["metrics_path"]
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
                return real(**kwargs)

            cell.train_cell = train_cell
            """
        )
    )
    out = tmp_path / "results"
    completed = cli(
        "--losses",
        "dpo,simpo",
        "--out",
        str(out),
        "--run-id",
        "full",
        "--plugin",
        "full_disk_plugin",
        cache=cache_dir,
        env={"PYTHONPATH": os.pathsep.join([str(plugin), os.environ.get("PYTHONPATH", "")])},
    )
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
    folder = out / "full" / "vdc" / "simpo" / "seed0"
    assert f"error: no space left on the disk of {folder} (No space left on device)" in " ".join(
        completed.stderr.split()
    )
    assert (
        json.loads((out / "full" / "vdc" / "dpo" / "seed0" / "result.json").read_text())["status"] == "done"
    )
    assert not (folder / "result.json").exists() and not (folder / CLAIM_FILE).exists()


def test_two_runs_of_one_command_on_one_folder_train_each_cell_once(tmp_path: Path, cache_dir: Path) -> None:
    """Started together, both prepare the task, then share the cells: none is trained twice, none is
    left out, no metrics file holds two runs' lines, and no claim is left behind."""
    losses = ("dpo", "simpo", "orpo", "sft")
    args = ("--losses", ",".join(losses), "--out", str(tmp_path / "results"), "--run-id", "shared")
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    command = [str(SCRIPT), "run", *QUICK, "--batch-size", "4", *args, "--cache-dir", str(cache_dir)]
    runs = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
        )
    ]
    runs.append(
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
        )
    )
    logs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], logs
    for loss in losses:
        trained = sum(" ".join(log.split()).count(f"vdc/{loss}/seed0: done") for log in logs)
        assert trained == 1, (loss, logs)
        folder = tmp_path / "results" / "shared" / "vdc" / loss / "seed0"
        assert [json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()] == [
            1,
            2,
        ]
        assert json.loads((folder / "result.json").read_text())["status"] == "done"
        assert not (folder / CLAIM_FILE).exists()
