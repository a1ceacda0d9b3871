"""The real CLI on the tiny embedded default: results layout, resuming, sharding, determinism, faults."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

SCRIPT = Path(sys.executable).parent / "synpo-bench"
TINY = ["--size", "tiny", "--budget", "steps=3", "--batch-size", "4", "--tasks", "vdc"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One warm-start/pair cache for the module, as a user's ~/.cache would be."""
    return tmp_path_factory.mktemp("cache")


def cli(
    *args: str, cache: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})}
    cache_args = ["--cache-dir", str(cache)] if cache is not None else []
    return subprocess.run(
        [str(SCRIPT), *args, *cache_args],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )


def metrics_without_time(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in rows]


@pytest.fixture(scope="module")
def first_run(
    tmp_path_factory: pytest.TempPathFactory, cache_dir: Path
) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("results")
    completed = cli("run", "--losses", "dpo,synpo", *TINY, "--out", str(out), cache=cache_dir)
    return out, completed


def test_run_writes_every_cell(first_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, completed = first_run
    assert completed.returncode == 0, completed.stdout + completed.stderr
    runs = list(out.iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("run-")
    for loss in ("dpo", "synpo"):
        folder = runs[0] / "vdc" / loss / "seed0"
        manifest = json.loads((folder / "manifest.json").read_text())
        result = json.loads((folder / "result.json").read_text())
        assert manifest["loss"] == loss and manifest["budget"] == {"kind": "steps", "value": 3.0}
        assert manifest["ref_mode"] == ("live" if loss == "dpo" else "none")
        assert manifest["synthetic"] is True and manifest["versions"]["torch"] == torch.__version__
        assert result["status"] == "done" and result["budget"]["reached"]["steps"] == 3
        assert result["quality"], "evaluation produced no metrics"
        assert all(isinstance(v, float) for v in result["quality"].values())
        assert result["cost"]["steps"] == 3 and result["cost"]["time_per_step_s"] > 0
        assert result["cost"]["forward_passes"] == (6 if loss == "dpo" else 3)
        assert len((folder / "metrics.jsonl").read_text().splitlines()) == 3
    assert (runs[0] / "vdc" / "pairs.jsonl").stat().st_size > 0
    assert "vdc: summary" in completed.stdout and "(start)" in completed.stdout
    # Not a terminal (a log file, CI): progress comes as lines, stage by quarter and cell by cell.
    assert "pairs: sampling: 4/4" in completed.stdout
    assert "vdc/dpo/seed0: done in" in completed.stdout and "vdc/synpo/seed0: done in" in completed.stdout
    start = json.loads((runs[0] / "vdc" / "task.json").read_text())["start_quality"]
    assert set(start) >= {"mean_accuracy", "mean_score"}


def test_rerun_skips_finished_cells(
    first_run: tuple[Path, subprocess.CompletedProcess], cache_dir: Path
) -> None:
    out, _ = first_run
    results = sorted(out.glob("*/vdc/*/seed0/result.json"))
    stamps = [p.stat().st_mtime_ns for p in results]
    completed = cli("run", "--losses", "dpo,synpo", *TINY, "--out", str(out), cache=cache_dir)
    assert completed.returncode == 0, completed.stderr
    assert "cached" in completed.stdout
    assert [p.stat().st_mtime_ns for p in results] == stamps


def test_a_resumed_run_reads_the_starts_evaluation_instead_of_repeating_it(
    first_run: tuple[Path, subprocess.CompletedProcess], cache_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results"
    shutil.copytree(first_run[0], out)
    task_dir = next(out.iterdir()) / "vdc"
    captions, task_json = task_dir / "captions.jsonl", task_dir / "task.json"
    stamp, start = captions.stat().st_mtime_ns, json.loads(task_json.read_text())["start_quality"]
    args = ["run", "--losses", "dpo,synpo", *TINY, "--seeds", "0,1", "--out", str(out)]
    completed = cli(*args, cache=cache_dir)  # seed 1 is new: the task is prepared again
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "vdc: the starting model's evaluation, from an earlier invocation" in completed.stdout
    assert "vdc: evaluating the starting model" not in completed.stdout
    assert captions.stat().st_mtime_ns == stamp
    assert json.loads(task_json.read_text())["start_quality"] == start
    assert json.loads((task_dir / "synpo" / "seed1" / "result.json").read_text())["status"] == "done"

    # Written under other settings (another start key): evaluated again.
    earlier = json.loads(task_json.read_text())
    task_json.write_text(json.dumps({**earlier, "start_key": "another"}))
    completed = cli(*args, "--rerun", "all", cache=cache_dir)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "vdc: evaluating the starting model" in completed.stdout
    assert captions.stat().st_mtime_ns != stamp


def test_killed_cell_is_redone_and_others_kept(
    first_run: tuple[Path, subprocess.CompletedProcess], cache_dir: Path
) -> None:
    out, _ = first_run
    run_dir = next(out.iterdir())
    kept = run_dir / "vdc" / "dpo" / "seed0" / "result.json"
    lost = run_dir / "vdc" / "synpo" / "seed0" / "result.json"
    stamp = kept.stat().st_mtime_ns
    before = metrics_without_time(lost.parent / "metrics.jsonl")
    lost.unlink()  # as if the process died mid-cell: the manifest is there, the result is not
    completed = cli("run", "--losses", "dpo,synpo", *TINY, "--out", str(out), cache=cache_dir)
    assert completed.returncode == 0, completed.stderr
    assert kept.stat().st_mtime_ns == stamp
    assert json.loads(lost.read_text())["status"] == "done"
    # Determinism: the redone cell repeats the first run's metrics exactly.
    assert metrics_without_time(lost.parent / "metrics.jsonl") == before


def test_shards_cover_the_grid_once(tmp_path: Path, cache_dir: Path) -> None:
    """Two shards fill one run folder; both use the same (smaller) warm-start batch."""
    args = ["run", "--losses", "simpo,orpo,sft", *TINY, "--out", str(tmp_path), "--run-id", "sharded"]
    for shard in ("0/2", "1/2"):
        completed = cli(*args, "--shard", shard, "--warm-start-batch-size", "8", cache=cache_dir)
        assert completed.returncode == 0, completed.stderr
    done = sorted(p.parent.parent.name for p in (tmp_path / "sharded").glob("vdc/*/seed0/result.json"))
    assert done == ["orpo", "sft", "simpo"]
    warm = json.loads((tmp_path / "sharded" / "vdc" / "task.json").read_text())["warm_start"]
    assert warm["batch_size"] == 8


def test_non_finite_loss_fails_one_cell_and_keeps_going(tmp_path: Path, cache_dir: Path) -> None:
    plugin = tmp_path / "plugins"
    plugin.mkdir()
    (plugin / "nan_loss_plugin.py").write_text(
        textwrap.dedent(
            '''
            from synpo_bench.api.diagnostics import LossTerms
            from synpo_bench.api.losses import register_loss

            @register_loss("nan_loss", needs_reference=False, citation="Test 2026")
            def nan_loss(stats):
                """A loss that is NaN whenever the chosen response has a token (always)."""
                bad = stats.chosen_logp_sum * float("nan")
                return LossTerms(bad, stats.chosen_logp_sum, stats.rejected_logp_sum)
            '''
        )
    )
    env = {"PYTHONPATH": str(plugin)}
    completed = cli(
        "run",
        "--losses",
        "nan_loss,simpo",
        *TINY,
        "--out",
        str(tmp_path / "r"),
        "--plugin",
        "nan_loss_plugin",
        cache=cache_dir,
        env=env,
    )
    assert completed.returncode == 1
    assert "failed" in completed.stderr and "nan_loss" in completed.stderr and "step 1" in completed.stderr
    failed = json.loads(next((tmp_path / "r").glob("*/vdc/nan_loss/seed0/result.json")).read_text())
    assert failed["status"] == "failed" and failed["error"]["step"] == 1
    assert "not finite" in failed["error"]["reason"]
    simpo = json.loads(next((tmp_path / "r").glob("*/vdc/simpo/seed0/result.json")).read_text())
    assert simpo["status"] == "done"


def test_report_json_is_a_baseline_that_check_gates_on(
    first_run: tuple[Path, subprocess.CompletedProcess], tmp_path: Path
) -> None:
    out, _ = first_run
    run_dir = next(out.iterdir())
    baseline = tmp_path / "baseline.json"
    completed = cli("report", str(run_dir), "--format", "json", "--out", str(baseline))
    assert completed.returncode == 0, completed.stderr
    payload = json.loads(baseline.read_text())
    measured = payload["tasks"]["vdc"]["synpo"]["mean_score"]
    assert payload["task_info"]["vdc"]["start_quality"]["mean_score"] >= 0
    # The run against its own numbers passes the gate.
    assert cli("check", str(run_dir), "--baseline", str(baseline)).returncode == 0
    # A baseline that claims synpo used to be clearly better is a regression: exit 1, named.
    payload["tasks"]["vdc"]["synpo"]["mean_score"] = measured + 5.0
    doctored = tmp_path / "doctored.json"
    doctored.write_text(json.dumps(payload))
    failed = cli("check", str(run_dir), "--baseline", str(doctored))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "synpo" in failed.stdout and "mean_score" in failed.stdout


def test_an_http_judge_scores_the_cells(tmp_path: Path, cache_dir: Path) -> None:
    """`--judge URL` reaches evaluation: a stub endpoint that always answers 1 correct, 1 missed gives
    every VDC dimension 50% accuracy and a 2.5 score, and the manifest names that judge."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            reply = '{"correct": 1, "missed": 1, "hallucinated": 0}'
            body = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        args = ["run", "--losses", "synpo", *TINY, "--out", str(tmp_path), "--run-id", "judged"]
        completed = cli(*args, "--judge", url, "--judge-model", "stub-judge", cache=cache_dir)
    finally:
        server.shutdown()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    folder = tmp_path / "judged" / "vdc" / "synpo" / "seed0"
    manifest = json.loads((folder / "manifest.json").read_text())
    quality = json.loads((folder / "result.json").read_text())["quality"]
    assert manifest["judge"] == f"http:stub-judge@{url}"
    assert quality["mean_accuracy"] == 50.0 and quality["mean_score"] == 2.5
    assert requests and all(r["model"] == "stub-judge" for r in requests)


def test_nlp_tasks_score_every_policy_and_the_start(tmp_path: Path, cache_dir: Path) -> None:
    """`--tasks vdc,nlp:synpo_mc`: lm-eval scores the trained policy's LM and the start's, offline, and
    its own result JSON lands in the cell folder."""
    args = ["run", "--losses", "simpo", *TINY, "--out", str(tmp_path), "--run-id", "nlp"]
    tasks_at = args.index("--tasks") + 1
    args[tasks_at] = "vdc,nlp:synpo_mc"
    completed = cli(*args, cache=cache_dir)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Running loglikelihood" not in completed.stdout + completed.stderr  # lm-eval's bars hidden
    run = tmp_path / "nlp" / "vdc"
    quality = json.loads((run / "simpo" / "seed0" / "result.json").read_text())["quality"]
    start = json.loads((run / "task.json").read_text())["start_quality"]
    for scores in (quality, start):
        assert 0.0 <= scores["nlp:synpo_mc/acc"] <= 1.0 and "nlp:synpo_mc/acc_norm" in scores
    lm_eval_json = json.loads((run / "simpo" / "seed0" / "lm_eval_results.json").read_text())
    assert lm_eval_json["results"]["synpo_mc"]["acc,none"] == quality["nlp:synpo_mc/acc"]
    assert (run / "lm_eval_results.json").is_file()


def test_a_text_preference_task_trains_from_its_own_pairs(tmp_path: Path, cache_dir: Path) -> None:
    """`--tasks textpref`: no frames, the data set's pairs used as given, evaluated by exact match."""
    args = ["run", "--losses", "dpo,synpo", "--size", "tiny", "--budget", "steps=3", "--batch-size", "4"]
    completed = cli(*args, "--tasks", "textpref", "--out", str(tmp_path), "--run-id", "text", cache=cache_dir)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    task_dir = tmp_path / "text" / "textpref"
    info = json.loads((task_dir / "task.json").read_text())
    assert info["synthetic"] is True and info["pairs"]["kept"] > 0
    for loss in ("dpo", "synpo"):
        result = json.loads((task_dir / loss / "seed0" / "result.json").read_text())
        assert result["status"] == "done" and 0.0 <= result["quality"]["exact_match"] <= 100.0
        assert result["cost"]["forward_passes"] == (6 if loss == "dpo" else 3)
