"""lmms-eval as an evaluation backend (``--tasks ...,lmms:``): the policy wrapper's scoring conventions,
the shipped offline tasks through the real CLI, and one clear line for each unusable lmms task."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from synpo_bench.cli import app
from synpo_bench.cli.parsing import split_tasks
from synpo_bench.config import RunConfig
from synpo_bench.tasks.data.video import decode_video, write_video
from synpo_bench.tasks.metrics import lmms_eval as bridge

pytestmark = pytest.mark.skipif(not bridge.lmms_eval_installed(), reason="needs the lmms extra")

SCRIPT = Path(sys.executable).parent / "synpo-bench"
COLOURS = {"red": (200, 0, 0), "green": (0, 200, 0), "blue": (0, 0, 200)}


def load_builder() -> ModuleType:
    path = bridge.LMMS_DATA_DIR / "synpo_lmms_data.py"
    spec = importlib.util.spec_from_file_location("synpo_lmms_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------- shipped data


def test_shipped_tasks_are_the_builders_output_with_their_videos() -> None:
    builder = load_builder()
    for name, documents in builder.build_documents().items():
        assert (bridge.LMMS_DATA_DIR / name).read_text(encoding="utf-8") == builder.to_jsonl(documents), (
            f"{name} is stale: run python tasks/lmms_data/synpo_lmms_data.py"
        )
        for document in documents:
            assert decode_video(bridge.LMMS_DATA_DIR / document["video"], 4, 16).shape == (4, 16, 16, 3)


def test_tasks_split_into_training_lm_eval_and_lmms_eval_lists() -> None:
    assert split_tasks("vdc,lmms:synpo_vatex,synpo_vdc,nlp:synpo_mc") == (
        ("vdc",),
        ("synpo_mc",),
        ("synpo_vatex", "synpo_vdc"),
    )
    assert split_tasks("vdc,nlp:synpo_mc") == (("vdc",), ("synpo_mc",), ())


def test_run_id_of_a_command_without_lmms_tasks_is_unchanged() -> None:
    assert "lmms_tasks" not in RunConfig().identity()
    assert RunConfig(lmms_tasks=("synpo_vatex",)).resolved_run_id() != RunConfig().resolved_run_id()


# ------------------------------------------------------------------------- the wrapper's conventions


class ColourPolicy(torch.nn.Module):
    """A policy over characters that sees its clip's colour: it says "a <colour> square", and a row that
    names the clip's colour gets its text tokens at probability ~1 (log-probability ~0), any other row
    1/256 per token: a model that prefers the right answer."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.tokenizer = None

    @property
    def device(self) -> torch.device:
        return self.anchor.device

    @staticmethod
    def colour(frames: np.ndarray | torch.Tensor) -> str:
        means = torch.as_tensor(np.asarray(frames)).float().mean(dim=(0, 1, 2))
        return list(COLOURS)[int(means.argmax())]

    def collate(self, frames: Sequence[np.ndarray] | None, prompts: Sequence[str], responses: Sequence[str]):
        rows = [[ord(c) for c in p + r] + [0] for p, r in zip(prompts, responses, strict=True)]
        width = max(map(len, rows))
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        labels = torch.full((len(rows), width), -100)
        for i, (row, prompt) in enumerate(zip(rows, prompts, strict=True)):
            ids[i, : len(row)] = torch.tensor(row)
            labels[i, len(prompt) : len(row)] = torch.tensor(row[len(prompt) :])
        assert frames is not None
        return {
            "frames": torch.stack([torch.as_tensor(f) for f in frames]),
            "input_ids": ids,
            "attention_mask": (labels != -100) | (ids != 0),
            "labels": labels,
        }

    def forward(self, frames: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        logits = torch.zeros(*input_ids.shape, 256)
        for i, row in enumerate(input_ids):
            text = "".join(chr(int(c)) for c in row if c)
            if self.colour(frames[i]) in text:
                logits[i, :-1].scatter_(-1, row[1:, None], 30.0)
        return logits

    def generate(self, frames, prompts, **_settings) -> list[str]:
        return [f"a {self.colour(f)} square\nmore" for f in frames]


@pytest.fixture(scope="module")
def colour_tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny local caption task and multiple-choice task over solid-colour clips, in lmms-eval's format."""
    folder = tmp_path_factory.mktemp("colour_tasks")
    documents = []
    for name, rgb in COLOURS.items():
        write_video(folder / f"{name}.mp4", np.full((4, 16, 16, 3), rgb, dtype=np.uint8))
        documents.append(
            {"video": str(folder / f"{name}.mp4"), "colour": name, "caption": f"a {name} square"}
        )
    (folder / "colours.jsonl").write_text("".join(json.dumps(d) + "\n" for d in documents))
    (folder / "colour_utils.py").write_text(
        textwrap.dedent(
            """
            COLOURS = ["red", "green", "blue"]
            def doc_to_visual(doc): return [doc["video"]]
            def doc_to_text(doc, lmms_eval_specific_kwargs=None): return "Which colour? "
            def doc_to_choice(doc): return [f"a {c} square" for c in COLOURS]
            def doc_to_target(doc): return COLOURS.index(doc["colour"])
            def process_results(doc, results): return {"exact_match": float(results[0] == doc["caption"])}
            """
        )
    )
    common = f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {folder / 'colours.jsonl'}\n"
    common += "test_split: test\ndoc_to_visual: !function colour_utils.doc_to_visual\n"
    common += "doc_to_text: !function colour_utils.doc_to_text\nmetadata:\n  version: 0.0\n"
    (folder / "colour_mc.yaml").write_text(
        "task: colour_mc\noutput_type: multiple_choice\n" + common
        + "doc_to_choice: !function colour_utils.doc_to_choice\n"
        + "doc_to_target: !function colour_utils.doc_to_target\n"
        + "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
    )  # fmt: skip
    (folder / "colour_cap.yaml").write_text(
        "task: colour_cap\noutput_type: generate_until\n" + common
        + "doc_to_target: caption\nprocess_results: !function colour_utils.process_results\n"
        + "generation_kwargs:\n  until: [\"\\n\"]\n  max_new_tokens: 8\n"
        + "metric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true\n"
    )  # fmt: skip
    return folder


def test_a_model_preferring_the_right_answer_scores_one(colour_tasks: Path) -> None:
    """lmms-eval 0.7.3 takes argmin over the replies and would turn them into strings: the wrapper hands
    it negative log-likelihood tuples, so the model that prefers the right colour scores 1.0 (a wrapper
    giving log-likelihoods scores 0.0; one giving bare tuples crashes), and its captions, cut at the
    task's stop string, match exactly."""
    from lmms_eval import evaluator
    from lmms_eval.tasks import TaskManager

    from synpo_bench.tasks.metrics.lmms_model import PolicyLMM

    results = evaluator.simple_evaluate(
        model=PolicyLMM(ColourPolicy(), frames=4, frame_size=16, batch_size=2),
        tasks=["colour_mc", "colour_cap"],
        task_manager=TaskManager(include_path=str(colour_tasks), include_defaults=False),
        bootstrap_iters=0,
        log_samples=False,
    )
    assert results is not None
    assert results["results"]["colour_mc"]["acc,none"] == 1.0
    assert results["results"]["colour_cap"]["exact_match,none"] == 1.0


def test_judged_lmms_eval_modules_are_aimed_at_the_judge() -> None:
    """lmms-eval's VDD module holds its endpoint and model in globals; VDC builds an SGLang endpoint."""

    def process_results() -> None: ...

    seen: list[str] = []
    names = process_results.__globals__
    saved = {k: names.get(k) for k in ("API_URL", "GPT_EVAL_MODEL_NAME", "RuntimeEndpoint", "llmms_eval")}
    try:
        names.update(API_URL="https://api.openai.com", GPT_EVAL_MODEL_NAME="gpt", llmms_eval=None)
        names["RuntimeEndpoint"] = seen.append
        task = SimpleNamespace(config=SimpleNamespace(process_results=process_results))
        bridge._point_judges([task], "http://judge:30000/v1/", "judge-7b")
        assert names["API_URL"] == "http://judge:30000/v1/chat/completions"
        assert names["GPT_EVAL_MODEL_NAME"] == "judge-7b"
        names["RuntimeEndpoint"]("http://localhost:30000")
        assert seen == ["http://judge:30000"]
    finally:
        for key, value in saved.items():
            names.pop(key) if value is None else names.__setitem__(key, value)


# ------------------------------------------------------------------------------------ the real CLI


def test_lmms_tasks_score_every_policy_and_the_start(tmp_path: Path) -> None:
    """`--tasks vdc,lmms:synpo_vatex,synpo_vdc`: lmms-eval scores the trained policy and the start on
    the shipped offline tasks; the metrics join the quality table, lmms-eval's JSON the cell folder."""
    args = ["run", "--losses", "dpo", "--size", "tiny", "--budget", "steps=2", "--batch-size", "4"]
    args += ["--warm-start-steps", "20", "--tasks", "vdc,lmms:synpo_vatex,synpo_vdc"]
    args += ["--out", str(tmp_path / "out"), "--run-id", "lmms", "--cache-dir", str(tmp_path / "cache")]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    completed = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=900, env=environment
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    task_dir = tmp_path / "out" / "lmms" / "vdc"
    quality = json.loads((task_dir / "dpo" / "seed0" / "result.json").read_text())["quality"]
    start = json.loads((task_dir / "task.json").read_text())["start_quality"]
    for scores in (quality, start):
        for metric in ("synpo_vatex/CIDEr", "synpo_vatex/BLEU_4", "synpo_vdc/accuracy", "synpo_vdc/score"):
            assert f"lmms:{metric}" in scores
        assert not any("stderr" in key for key in scores)
    written = json.loads((task_dir / "dpo" / "seed0" / bridge.RESULTS_FILE).read_text())
    assert written["results"]["synpo_vdc"]["accuracy,none"] == quality["lmms:synpo_vdc/accuracy"]
    assert written["synpo_bench"] == {"judge": "exact", "judge_model": None}
    assert (task_dir / bridge.RESULTS_FILE).is_file()


# -------------------------------------------------------------------------------------- bad inputs


def test_lmms_tasks_without_the_extra_fail_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge, "lmms_eval_installed", lambda: False)
    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["run", "--tasks", "vdc,lmms:synpo_vatex", "--out", str(out)])
    assert result.exit_code == 2
    assert "lmms-eval, which is not installed; pip install -e '.[lmms]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not any(out.rglob("result.json"))


def test_a_judged_lmms_task_needs_a_live_judge_endpoint() -> None:
    with pytest.raises(bridge.LMMSTaskError, match="grades with an LLM judge; give its endpoint"):
        bridge.check_lmms_tasks(["camera_test"], "exact")
    with pytest.raises(bridge.LMMSTaskError, match="does not answer"):
        bridge.check_lmms_tasks(["video_dc499"], "http://127.0.0.1:9/v1", "judge")


def test_unknown_and_offline_unavailable_builtin_tasks_are_named() -> None:
    """One index of lmms-eval's own tasks for both (it is built once per process)."""
    with pytest.raises(bridge.LMMSTaskError, match=r"unknown lmms-eval task 'vatex_tset' \(did you mean"):
        bridge.check_lmms_tasks(["vatex_tset"])
    with pytest.raises(bridge.LMMSTaskError, match="'vatex_test' cannot run: its data set 'lmms-eval/VATEX'"):
        bridge.check_lmms_tasks(["vatex_test"])
