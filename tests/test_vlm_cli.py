"""The real CLI on tiny vision-language checkpoints: trained, compared, saved and reloaded end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText

from tests._tiny_vlms import build_tiny_vlm
from tests.test_end_to_end import cli

SHORT = ["--size", "tiny", "--budget", "steps=2", "--batch-size", "4", "--losses", "dpo,synpo"]


def run_folder(out: Path) -> Path:
    (run,) = list(out.iterdir())
    return run


def cell(run: Path, loss: str) -> tuple[dict, dict]:
    folder = run / "vdc" / loss / "seed0"
    return json.loads((folder / "manifest.json").read_text()), json.loads(
        (folder / "result.json").read_text()
    )


def test_qwen2_vl_with_lora_trains_compares_and_saves_loadable_adapters(tmp_path: Path) -> None:
    checkpoint = build_tiny_vlm("qwen2_vl", tmp_path / "tiny-qwen2vl")
    out = tmp_path / "results"
    args = ["--model", str(checkpoint), "--tasks", "vdc,nlp:synpo_mc", "--lora", "--save-policies"]
    completed = cli("run", *SHORT, *args, "--warm-start-steps", "2", "--out", str(out), cache=tmp_path / "c")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    run = run_folder(out)
    for loss, mode, passes in (("dpo", "adapters-off", 4), ("synpo", "none", 2)):
        manifest, result = cell(run, loss)
        assert manifest["ref_mode"] == mode and result["status"] == "done"
        assert result["cost"]["forward_passes"] == passes  # adapters-off: one more forward, no copy
        assert "mean_accuracy" in result["quality"] and "nlp:synpo_mc/acc" in result["quality"]
    # The adapters load with peft onto the start they were trained from (the warm-start entry).
    from peft import PeftModel

    policy = run / "vdc" / "synpo" / "seed0" / "policy"
    adapter = json.loads((policy / "adapter_config.json").read_text())
    start = Path(adapter["base_model_name_or_path"])
    assert start.is_dir() and start.parent.name == "warmstart"
    base = AutoModelForImageTextToText.from_pretrained(str(start), local_files_only=True)
    loaded = PeftModel.from_pretrained(base, str(policy))
    lora_b = [v for k, v in load_file(str(policy / "adapter_model.safetensors")).items() if "lora_B" in k]
    assert lora_b and any(bool(t.abs().sum() > 0) for t in lora_b)  # trained (B starts at zero)
    assert any("lora_B" in name for name, _ in loaded.named_parameters())


def test_llava_onevision_full_weights_with_a_live_reference(tmp_path: Path) -> None:
    checkpoint = build_tiny_vlm("llava_onevision", tmp_path / "tiny-llava-ov")
    out = tmp_path / "results"
    args = ["--model", str(checkpoint), "--tasks", "vdc", "--save-policies", "--warm-start-steps", "2"]
    completed = cli("run", *SHORT, *args, "--out", str(out), cache=tmp_path / "c")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    run = run_folder(out)
    manifest, result = cell(run, "dpo")
    assert manifest["ref_mode"] == "live" and result["status"] == "done"
    saved = AutoModelForImageTextToText.from_pretrained(str(run / "vdc" / "dpo" / "seed0" / "policy"))
    start = AutoModelForImageTextToText.from_pretrained(str(checkpoint))
    trained, before = saved.state_dict(), start.state_dict()
    lm = [name for name in before if "language_model" in name]
    vision = [name for name in before if "vision_tower" in name]
    assert lm and vision
    assert not all(torch.equal(trained[name], before[name]) for name in lm)  # the language model trained
    assert all(torch.equal(trained[name], before[name]) for name in vision)  # the vision tower stayed frozen


def test_qwen2_5_vl_without_warm_start_trains_the_projector_on_the_checkpoint_itself(tmp_path: Path) -> None:
    checkpoint = build_tiny_vlm("qwen2_5_vl", tmp_path / "tiny-qwen25vl")
    out = tmp_path / "results"
    args = ["--model", str(checkpoint), "--tasks", "vdc", "--lora", "--train-projector", "--no-warm-start"]
    completed = cli("run", *SHORT, *args, "--save-policies", "--out", str(out), cache=tmp_path / "c")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    run = run_folder(out)
    task = json.loads((run / "vdc" / "task.json").read_text())
    assert task["warm_start"]["steps"] == 0
    adapter = json.loads((run / "vdc" / "dpo" / "seed0" / "policy" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(checkpoint)
    assert any("merger" in name for name in adapter["modules_to_save"])


def one_line_exit_2(completed, *needles: str) -> None:
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
    message = completed.stderr.strip()
    assert len(message.splitlines()) == 1, message
    for needle in needles:
        assert needle in message, message


def test_a_checkpoint_that_is_neither_a_causal_lm_nor_a_vlm_is_refused_in_one_line(tmp_path: Path) -> None:
    from transformers import ViTConfig, ViTModel

    folder = tmp_path / "vit"
    config = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ViTModel(config).save_pretrained(folder)
    out = ["--out", str(tmp_path / "o")]
    completed = cli("run", *SHORT, "--tasks", "vdc", "--model", str(folder), *out, cache=tmp_path / "c")
    one_line_exit_2(completed, str(folder))


def test_a_vlm_without_a_chat_template_is_refused_in_one_line(tmp_path: Path) -> None:
    checkpoint = build_tiny_vlm("qwen2_vl", tmp_path / "no-template")
    (checkpoint / "chat_template.jinja").unlink()
    completed = cli(
        "run",
        *SHORT,
        "--tasks",
        "vdc",
        "--model",
        str(checkpoint),
        "--out",
        str(tmp_path / "o"),
        cache=tmp_path / "c",
    )
    one_line_exit_2(completed, "chat template", str(checkpoint))


@pytest.mark.parametrize("model", [None, "causal"])
def test_train_projector_without_a_vlm_is_refused_before_any_work(tmp_path: Path, model: str | None) -> None:
    args = [] if model is None else ["--model", str(tmp_path)]
    completed = cli("run", *SHORT, "--tasks", "vdc", "--train-projector", *args, "--out", str(tmp_path / "o"))
    one_line_exit_2(completed, "--train-projector")
    assert not (tmp_path / "o").exists()


def test_frames_and_frame_size_reach_the_clips_the_policy_is_built_for(tmp_path: Path) -> None:
    args = ["--frames", "16", "--frame-size", "16", "--warm-start-steps", "2", "--tasks", "vdc"]
    completed = cli("run", *SHORT, *args, "--out", str(tmp_path / "o"), cache=tmp_path / "c")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    (saved,) = (tmp_path / "c" / "warmstart").glob("*/videolm.json")
    assert json.loads(saved.read_text())["vision"]["frame_shape"] == [16, 16, 16, 3]
    manifest, _ = cell(run_folder(tmp_path / "o"), "synpo")
    assert manifest["config"]["frames"] == 16 and manifest["config"]["frame_size"] == 16


@pytest.mark.parametrize(
    ("frames", "needle"), [("1", "at least 2 frames"), ("4", "tubelets of 8")], ids=["too-few", "encoder"]
)
def test_frames_the_model_cannot_read_are_refused_before_any_work(
    tmp_path: Path, frames: str, needle: str
) -> None:
    completed = cli("run", *SHORT, "--tasks", "vdc", "--frames", frames, "--out", str(tmp_path / "o"))
    one_line_exit_2(completed, f"--frames {frames}", needle)
    assert not (tmp_path / "o").exists()
