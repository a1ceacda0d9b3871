"""The grid as submitit jobs (``--executor submitit-local`` / ``slurm``) and ``synpo-bench status``.

One tiny grid runs through submitit's local executor (a prepare job, then one job per cell) on a fresh
cache, and the same command in-process on that cache: the cells' results must be the same, the warm start
trained once (by the prepare job; every cell job loads it). Slurm is driven by stand-in ``sbatch`` and
``srun`` scripts that record what they are given: the sbatch files must carry the partition, GPUs, time
limit, the array's concurrency cap and the dependency on the prepare job.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synpo_bench.api.errors import UserError
from synpo_bench.cli import app
from synpo_bench.config import ExecutorSettings, RunConfig
from synpo_bench.validation import validate_config

SCRIPT = Path(sys.executable).parent / "synpo-bench"
GRID = ["--size", "tiny", "--tasks", "vdc", "--losses", "dpo,synpo", "--budget", "steps=2"]
GRID += ["--warm-start-steps", "20"]
CELLS = ("vdc/dpo/seed0", "vdc/synpo/seed0")
LOCAL_JOBS = ["--executor", "submitit-local"]
runner = CliRunner()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=600, env=environment)


def run_folder(out: Path) -> Path:
    (run,) = [path for path in out.iterdir() if path.is_dir()]
    return run


def metrics_without_time(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in rows]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The grid through submitit's local executor on a fresh cache, then in-process on that cache."""
    cache = tmp_path_factory.mktemp("cache")
    jobs_out, local_out = tmp_path_factory.mktemp("jobs"), tmp_path_factory.mktemp("local")
    jobs = cli(
        "run", *GRID, "--cache-dir", str(cache), "--out", str(jobs_out), "--executor", "submitit-local"
    )
    local = cli("run", *GRID, "--cache-dir", str(cache), "--out", str(local_out))
    return {"cache": cache, "jobs": jobs, "local": local, "jobs_out": jobs_out, "local_out": local_out}


def test_submitit_local_gives_the_in_process_results(runs: dict) -> None:
    jobs, local = runs["jobs"], runs["local"]
    assert jobs.returncode == 0, jobs.stdout + jobs.stderr
    assert local.returncode == 0, local.stdout + local.stderr
    jobs_run, local_run = run_folder(runs["jobs_out"]), run_folder(runs["local_out"])
    assert jobs_run.name == local_run.name  # the executor does not change the run id
    for cell in CELLS:
        ran, reference = jobs_run / cell, local_run / cell
        result = json.loads((ran / "result.json").read_text())
        assert result["status"] == "done"
        assert result["quality"] == json.loads((reference / "result.json").read_text())["quality"]
        for name in ("captions.jsonl", "item_scores.jsonl"):
            assert (ran / name).read_text() == (reference / name).read_text()
        assert metrics_without_time(ran / "metrics.jsonl") == metrics_without_time(
            reference / "metrics.jsonl"
        )
        assert not (ran / "claim.json").exists()
    recorded = json.loads((jobs_run / "submitit" / "jobs.json").read_text())
    assert recorded["executor"] == "submitit-local"
    assert set(recorded["jobs"]) == {"prepare", *CELLS}
    assert "executor" not in (jobs_run / "config.toml").read_text()  # how it ran is not what it is


def test_the_warm_start_is_trained_once_and_every_cell_job_loads_it(runs: dict) -> None:
    output = runs["jobs"].stdout
    assert "prepare: done" in output and "computed: pairs and warm start" in output, output
    for cell in CELLS:
        (line,) = [line for line in output.splitlines() if line.startswith(f"submitit {cell}: done")]
        assert "first step" in line and "warm start and pairs from the cache" in line, line
    assert len(list((runs["cache"] / "warmstart").iterdir())) == 1
    task = json.loads((run_folder(runs["jobs_out"]) / "vdc" / "task.json").read_text())
    assert task["warm_start"]["cached"] is True  # rewritten by a cell job, which loaded it


def test_a_second_submission_resumes_without_jobs(runs: dict) -> None:
    again = runner.invoke(
        app,
        ["run", *GRID, *LOCAL_JOBS, "--cache-dir", str(runs["cache"]), "--out", str(runs["jobs_out"])],
    )
    assert again.exit_code == 0, again.output
    assert "nothing to submit" in again.output
    recorded = json.loads((run_folder(runs["jobs_out"]) / "submitit" / "jobs.json").read_text())
    assert len(recorded["jobs"]) == 3  # no new job


def test_status_shows_done_failed_running_interrupted_and_pending(runs: dict, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_folder(runs["jobs_out"]), run)
    config = run / "config.toml"
    config.write_text(config.read_text().replace('seeds = "0"', 'seeds = "0,1,2"'))
    failed = run / "vdc/synpo/seed0/result.json"
    result = json.loads(failed.read_text())
    result.update(status="failed", error={"step": 1, "reason": "ValueError: boom"})
    failed.write_text(json.dumps(result))
    for cell in ("vdc/dpo/seed1", "vdc/synpo/seed1"):
        (run / cell).mkdir(parents=True)
        shutil.copy(run / "vdc/dpo/seed0/manifest.json", run / cell / "manifest.json")
    claim = {"pid": 1, "host": "another-host", "started": "", "token": "x"}
    (run / "vdc/dpo/seed1/claim.json").write_text(json.dumps(claim))

    shown = runner.invoke(app, ["status", str(run), "--json"])
    assert shown.exit_code == 0, shown.output
    payload = json.loads(shown.output)
    states = {cell["cell"]: cell["state"] for cell in payload["cells"]}
    assert states == {
        "vdc/dpo/seed0": "done",
        "vdc/synpo/seed0": "failed",
        "vdc/dpo/seed1": "running",
        "vdc/synpo/seed1": "interrupted",
        "vdc/dpo/seed2": "pending",
        "vdc/synpo/seed2": "pending",
    }
    details = {cell["cell"]: cell["detail"] for cell in payload["cells"]}
    assert "ValueError: boom" in details["vdc/synpo/seed0"]
    assert "another-host" in details["vdc/dpo/seed1"]
    assert "COMPLETED" in details["vdc/dpo/seed0"]  # the submitit job's state
    assert payload["counts"] == {"done": 1, "failed": 1, "running": 1, "interrupted": 1, "pending": 2}

    table = runner.invoke(app, ["status", str(run)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "done 1  failed 1  running 1  interrupted 1  pending 2" in table.output
    assert "prepare (warm start, pairs): job" in table.output and "COMPLETED" in table.output


def test_status_of_a_missing_run_is_one_line(tmp_path: Path) -> None:
    shown = runner.invoke(app, ["status", str(tmp_path / "nope")])
    assert shown.exit_code == 2
    assert "no such run folder" in shown.output and len(shown.output.strip().splitlines()) == 1


def test_slurm_without_sbatch_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no sbatch, no srun
    out, cache = tmp_path / "out", tmp_path / "cache"
    slurm = ["--executor", "slurm", "--slurm-partition", "gpu"]
    result = runner.invoke(app, ["run", *GRID, *slurm, "--out", str(out), "--cache-dir", str(cache)])
    assert result.exit_code == 2, result.output
    assert "'sbatch' is not on this machine's PATH" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() and not cache.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--slurm-partition", "gpu"], "--slurm-partition applies to --executor slurm"),
        (["--max-parallel", "2"], "--max-parallel applies to --executor submitit-local or slurm"),
        (["--executor", "submitit-local", "--max-parallel", "0"], "--max-parallel must be at least 1"),
        (["--executor", "submitit-local", "--slurm-option", "qos=high"], "--slurm-option applies to"),
        (["--executor", "pbs"], "--executor 'pbs': choose one of local, submitit-local, slurm"),
    ],
)
def test_executor_settings_are_checked_before_any_work(
    tmp_path: Path, options: list[str], message: str
) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", *GRID, "--out", str(out), *options])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_executor_settings_do_not_change_the_run_id() -> None:
    slurm = ExecutorSettings("slurm", "gpu", 2, 30, 4, (("account", "proj"),))
    assert RunConfig(executor=slurm).resolved_run_id() == RunConfig().resolved_run_id()


FAKE_SBATCH = """#!/bin/sh
# Stand-in for Slurm's sbatch: keep the submission file, answer as sbatch does.
n=$(ls "{record}" | wc -l)
cp "$1" "{record}/$n.sh"
echo "Submitted batch job $((100 + n))"
"""


def test_slurm_submits_a_prepare_job_then_one_capped_array_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir, record = tmp_path / "bin", tmp_path / "sbatch-files"
    bin_dir.mkdir(), record.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(record=record))
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    for script in bin_dir.iterdir():
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    options = ["--executor", "slurm", "--slurm-partition", "gpu", "--gpus-per-cell", "2"]
    options += ["--time-limit", "45", "--max-parallel", "1", "--slurm-option", "account=proj"]
    result = runner.invoke(app, ["run", *GRID, "--out", str(out), "--cache-dir", str(tmp_path), *options])
    assert result.exit_code == 0, result.output
    assert "queued on Slurm" in result.output and "synpo-bench status" in result.output
    prepare, array = (record / "0.sh").read_text(), (record / "1.sh").read_text()
    for script in (prepare, array):
        for flag in ("--partition=gpu", "--gpus-per-node=2", "--time=45", "--account=proj"):
            assert f"#SBATCH {flag}\n" in script, script
    assert "--array" not in prepare and "--dependency" not in prepare
    assert "#SBATCH --array=0-1%1\n" in array  # two cells, one at a time
    assert "#SBATCH --dependency=afterok:100\n" in array  # after the prepare job
    assert "#SBATCH --kill-on-invalid-dep=yes\n" in array  # cancelled if the prepare job fails
    run = run_folder(out)
    recorded = json.loads((run / "submitit" / "jobs.json").read_text())
    assert recorded == {
        "executor": "slurm",
        "jobs": {"prepare": "100", "vdc/dpo/seed0": "101_0", "vdc/synpo/seed0": "101_1"},
        "updated_at": recorded["updated_at"],
    }
    assert not (run / "vdc").exists()  # nothing trained or prepared on the submitting machine
    shown = runner.invoke(app, ["status", str(run), "--json"])
    states = {cell["cell"]: (cell["state"], cell["detail"]) for cell in json.loads(shown.output)["cells"]}
    assert states == {"vdc/dpo/seed0": ("pending", "job 101_0 SUBMITTED")} | {
        "vdc/synpo/seed0": ("pending", "job 101_1 SUBMITTED")
    }


def test_a_mistake_found_by_the_prepare_job_is_one_line_and_no_cell_runs(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    row = {"clip_id": "no-such-clip", "prompt": "Describe.", "chosen": "a red ball", "rejected": "a cat"}
    pairs.write_text(json.dumps(row) + "\n")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["run", *GRID, *LOCAL_JOBS, "--pairs", str(pairs), "--out", str(out), "--cache-dir", str(tmp_path)],
    )
    assert result.exit_code == 2, result.output
    assert "are not clips of task 'vdc'" in result.output
    run = run_folder(out)
    assert set(json.loads((run / "submitit" / "jobs.json").read_text())["jobs"]) == {"prepare"}
    assert not any(run.glob("vdc/*/seed0"))


def test_jobs_are_submitted_from_one_process_not_from_every_launched_one() -> None:
    config = RunConfig(processes=2, executor=ExecutorSettings("submitit-local"))
    with pytest.raises(UserError, match="submits the grid's jobs from one process"):
        validate_config(config)
