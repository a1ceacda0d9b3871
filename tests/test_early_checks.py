"""What the settings and the loaded data already decide is refused before the warm start, not after it."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from typer.testing import CliRunner

from synpo_bench.api.judges import JudgeError, make_judge
from synpo_bench.cli import app
from synpo_bench.tasks.vatex import VatexTask
from synpo_bench.tasks.vdc import VdcTask
from tests.test_real_data import write_clip

runner = CliRunner()
CLIPS = [f"clip{i}" for i in range(6)]
DIMENSIONS = ("short", "detailed", "background", "main_object", "camera")


@pytest.fixture(scope="module")
def real_vdc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real VDC data (AuroraCap's format): six decodable clips, captions only, no ground-truth facts."""
    folder = tmp_path_factory.mktemp("vdc")
    lines = []
    for clip in CLIPS:
        write_clip(folder / "videos" / f"{clip}.mp4")
        lines.append(
            json.dumps(
                {"video_name": f"{clip}.mp4", **{f"{d}_caption": f"{d} of {clip}." for d in DIMENSIONS}}
            )
        )
    (folder / "VDC_1k.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def run_on(data: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:
    args = ["run", "--tasks", "vdc", "--data-dir", str(data), "--losses", "dpo", "--size", "tiny"]
    args += ["--budget", "steps=1", "--warm-start-steps", "2", "--out", str(tmp_path / "results")]
    result = runner.invoke(app, [*args, "--cache-dir", str(tmp_path / "cache"), *extra])
    return result.exit_code, " ".join(result.output.split())


def test_real_data_without_pairs_fails_before_the_warm_start(real_vdc: Path, tmp_path: Path) -> None:
    code, output = run_on(real_vdc, tmp_path)
    assert code == 2, output
    assert "real data has no ground-truth facts to rate sampled captions; give preference pairs" in output
    assert "Traceback" not in output
    assert "warm start" not in output  # the stage never began
    assert not (tmp_path / "cache" / "warmstart").exists()


def test_a_judge_that_cannot_grade_the_eval_data_fails_before_the_warm_start(
    real_vdc: Path, tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {"clip_id": clip, "prompt": "Describe.", "chosen": "a red ball.", "rejected": "a cat."}
        for clip in CLIPS
    ]
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code, output = run_on(real_vdc, tmp_path, "--pairs", str(pairs))
    assert code == 2, output
    assert (
        "task 'vdc': judge 'exact-fact' grades against ground-truth facts, and this data has none" in output
    )
    assert "warm start" not in output
    assert not (tmp_path / "cache" / "warmstart").exists()


def test_only_a_task_whose_every_metric_needs_the_judge_refuses_it(real_vdc: Path, tmp_path: Path) -> None:
    exact = make_judge("exact")
    with pytest.raises(JudgeError, match="grade real VDC captions with an LLM judge"):
        VdcTask().check_evaluable(VdcTask().load(real_vdc, seed=0, size="tiny"), exact)
    VdcTask().check_evaluable(VdcTask().load(None, seed=0, size="tiny"), exact)  # the world has facts
    (tmp_path / "vatex.json").write_text(json.dumps([{"videoID": c, "enCap": ["A clip."]} for c in CLIPS]))
    for clip in CLIPS:
        (tmp_path / "videos").mkdir(exist_ok=True)
        (tmp_path / "videos" / f"{clip}.mp4").symlink_to(real_vdc / "videos" / f"{clip}.mp4")
    # VATEX keeps its caption metrics (CIDEr, BLEU) without facts: a run on it is still useful.
    VatexTask().check_evaluable(VatexTask().load(tmp_path, seed=0, size="tiny"), exact)


def test_every_task_is_checked_before_the_first_one_trains(real_vdc: Path, tmp_path: Path) -> None:
    """--tasks vatex,vdc: vatex can run on real data, vdc cannot with the exact judge; the run must stop
    before vatex's warm start, not after vatex's cells have trained."""
    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    for clip in CLIPS:
        (data / "videos" / f"{clip}.mp4").symlink_to(real_vdc / "videos" / f"{clip}.mp4")
    (data / "vatex.json").write_text(json.dumps([{"videoID": c, "enCap": ["A clip."]} for c in CLIPS]))
    (data / "VDC_1k.jsonl").write_text((real_vdc / "VDC_1k.jsonl").read_text())
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {"clip_id": clip, "prompt": "Describe.", "chosen": "a red ball.", "rejected": "a cat."}
        for clip in CLIPS
    ]
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code, output = run_on(data, tmp_path, "--pairs", str(pairs), "--tasks", "vatex,vdc")
    assert code == 2, output
    assert "task 'vdc': judge 'exact-fact' grades against ground-truth facts" in output
    assert "warm start" not in output
    assert not (tmp_path / "cache" / "warmstart").exists()
