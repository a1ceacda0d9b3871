"""Per-example scores (``TaskAdapter.item_scores``, ``item_scores.jsonl``): each task's values average to
its metrics, and a real tiny run writes them for every cell and the start, which the report pairs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from synpo_bench.api.facts import ClipFacts
from synpo_bench.api.judges import FactGrade, make_judge
from synpo_bench.api.tasks import get_task
from synpo_bench.config import RunConfig
from synpo_bench.run.evaluate import Evaluator

SCRIPT = Path(sys.executable).parent / "synpo-bench"


def test_the_engine_has_each_caption_graded_once(tmp_path: Path) -> None:
    """Evaluation asks the task for its metrics and its per-example values in one pass (``score``), so
    a judge (an LLM's, paid per call) grades each caption once, not once for each."""
    exact = make_judge("exact")

    class CountingJudge:
        name = "counting"

        def __init__(self) -> None:
            self.calls = 0

        def grade(self, caption: str, facts: ClipFacts, dimension: str) -> FactGrade:
            self.calls += 1
            return exact.grade(caption, facts, dimension)

    adapter = get_task("vdc")()
    data = adapter.load(None, seed=0, size="tiny")
    judge = CountingJudge()
    evaluator = Evaluator(RunConfig(nlp_tasks=()), judge, torch.device("cpu"))
    captions = [e.references[0] for e in data.eval]
    quality = evaluator.quality(None, adapter, data, [], captions, tmp_path)  # type: ignore[arg-type]
    assert judge.calls == len(data.eval)
    assert quality["mean_accuracy"] == pytest.approx(100.0)
    assert len((tmp_path / "item_scores.jsonl").read_text().splitlines()) == len(data.eval)


@pytest.mark.parametrize("task", ["vdc", "vdd", "vatex", "textpref"])
def test_item_values_average_to_the_task_metrics(task: str) -> None:
    adapter = get_task(task)()
    data = adapter.load(None, seed=0, size="tiny")
    # half the examples answered with their reference, half with a wrong or empty caption: varied values
    predictions = {
        (e.clip_id, e.dimension): e.references[0] if i % 2 == 0 else ("a red circle." if i % 4 == 1 else "")
        for i, e in enumerate(data.eval)
    }
    judge = make_judge("exact")
    metrics = adapter.evaluate(predictions, data, judge)
    items = adapter.item_scores(predictions, data, judge)
    assert items is not None and len(items) == len(data.eval)
    names = {name for item in items for name in item}
    assert names, "no per-example values"
    assert not names & {"BLEU-1", "BLEU-4", "METEOR"}  # corpus-level: no per-example value
    for name in names:
        values = [item[name] for item in items if name in item]
        assert sum(values) / len(values) == pytest.approx(metrics[name], rel=1e-9, abs=1e-9), name
    if task == "vdc":
        assert {"mean_accuracy", "mean_score", "camera_accuracy"} <= names
    if task in ("vdd", "vatex"):
        assert {"CIDEr", "ROUGE-L", "fact_accuracy"} <= names


def test_a_tiny_run_writes_item_scores_and_the_report_pairs_them(tmp_path: Path) -> None:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    out, cache = tmp_path / "results", tmp_path / "cache"
    run = [str(SCRIPT), "run", "--size", "tiny", "--budget", "steps=2", "--warm-start-steps", "20"]
    run += ["--losses", "dpo,simpo", "--tasks", "vdc", "--out", str(out), "--cache-dir", str(cache)]
    done = subprocess.run(run, capture_output=True, text=True, timeout=600, env=environment)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = out.iterdir()
    for folder in (run_dir / "vdc", run_dir / "vdc" / "dpo" / "seed0", run_dir / "vdc" / "simpo" / "seed0"):
        captions = [json.loads(line) for line in (folder / "captions.jsonl").read_text().splitlines()]
        items = [json.loads(line) for line in (folder / "item_scores.jsonl").read_text().splitlines()]
        assert [(i["clip_id"], i["dimension"]) for i in items] == [
            (c["clip_id"], c["dimension"]) for c in captions
        ]
        assert all("mean_accuracy" in i["scores"] for i in items)
        assert ("win_rate" in items[0]["scores"]) == (folder.name == "seed0")
    quality = json.loads((run_dir / "vdc" / "simpo" / "seed0" / "result.json").read_text())["quality"]
    items = [
        json.loads(line)["scores"]
        for line in (run_dir / "vdc" / "simpo" / "seed0" / "item_scores.jsonl").open()
    ]
    assert sum(i["win_rate"] for i in items) / len(items) == pytest.approx(quality["win_rate"])
    report = [str(SCRIPT), "report", str(run_dir), "--format", "markdown"]
    shown = subprocess.run(report, capture_output=True, text=True, timeout=300, env=environment)
    assert shown.returncode == 0, shown.stderr
    assert "## vdc: vs dpo (paired)" in shown.stdout and "## vdc: vs start (paired)" in shown.stdout
    line = next(row for row in shown.stdout.splitlines() if row.startswith("| mean_accuracy |"))
    assert any(verdict in line for verdict in ("better", "worse", "n.s."))
