"""Vision-language checkpoints as the policy: tiny random-init Qwen2-VL, Qwen2.5-VL and LLaVA-OneVision
built by the tests (tests/_tiny_vlms.py), loaded by path the way a user's checkpoint is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageTextToText, GenerationConfig

from synpo_bench.api.models import policy_logits
from synpo_bench.api.stats import IGNORE_INDEX, sequence_stats
from synpo_bench.models import VideoLM, VisionLanguagePolicy, build_model, load_policy
from synpo_bench.models.vlm import ContextTooLongError
from tests._tiny_vlms import FAMILIES, build_tiny_vlm

PROMPTS = ["Describe the video.", "What moves?"]
RESPONSES = ["a red circle moves left", "a blue square"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vlms")
    return {family: build_tiny_vlm(family, root / family) for family in FAMILIES}


def clips(n: int) -> list[np.ndarray]:
    return [np.random.default_rng(i).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8) for i in range(n)]


def logp_sums(policy: VisionLanguagePolicy, batch: dict) -> list[float]:
    with torch.no_grad():
        return sequence_stats(policy_logits(policy, batch), batch["labels"]).logp_sum.tolist()


@pytest.mark.parametrize("family", FAMILIES)
def test_a_vision_language_checkpoint_uses_its_own_vision_and_labels_the_response_only(
    checkpoints: dict[str, Path], family: str
) -> None:
    policy = build_model(str(checkpoints[family]))
    assert isinstance(policy, VisionLanguagePolicy) and not isinstance(policy, VideoLM)
    tokenizer = policy.tokenizer
    batch = policy.collate(clips(2), PROMPTS, RESPONSES)
    assert any(key.startswith("vision.pixel_values") for key in batch), sorted(batch)
    video_token = tokenizer.convert_tokens_to_ids(tokenizer.video_token)
    for row, response in enumerate(RESPONSES):
        labels = batch["labels"][row]
        labelled = labels[labels != IGNORE_INDEX].tolist()
        expected = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        assert labelled == expected  # the response and its EOS, nothing of the prompt or the padding
        ids = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
        assert ids[-len(expected) :] == expected
        assert video_token in ids[: -len(expected)]  # the clip entered as the processor's video tokens
        assert tokenizer.decode(ids).count("user") == 1  # the chat template's user turn
    assert not any(p.requires_grad for n, p in policy.lm.named_parameters() if "vision" in n or "visual" in n)


def test_a_row_scores_the_same_alone_and_in_a_padded_batch(checkpoints: dict[str, Path]) -> None:
    policy = build_model(str(checkpoints["qwen2_vl"]))
    together = logp_sums(policy, policy.collate(clips(2), PROMPTS, RESPONSES))
    alone = [
        logp_sums(policy, policy.collate(clips(2)[i : i + 1], PROMPTS[i : i + 1], RESPONSES[i : i + 1]))[0]
        for i in range(2)
    ]
    assert together == pytest.approx(alone, abs=1e-4)
    other_clip = logp_sums(policy, policy.collate(clips(3)[2:], PROMPTS[:1], RESPONSES[:1]))[0]
    assert other_clip != pytest.approx(alone[0], abs=1e-4)  # the video is read


@pytest.mark.parametrize("family", FAMILIES)
def test_with_lora_the_start_is_the_policy_with_adapters_disabled(
    checkpoints: dict[str, Path], family: str
) -> None:
    policy = build_model(str(checkpoints[family]), lora=True)
    batch = policy.collate(clips(2), PROMPTS, RESPONSES)
    start = logp_sums(policy, batch)
    trainable = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=1.0)
    for _ in range(2):
        optimizer.zero_grad()
        (-sequence_stats(policy_logits(policy, batch), batch["labels"]).logp_sum.sum()).backward()
        optimizer.step()
    assert logp_sums(policy, batch) != pytest.approx(start, abs=1e-3)  # the adapters learned
    context = policy.frozen_start()
    assert context is not None
    with context:
        assert logp_sums(policy, batch) == pytest.approx(start, abs=1e-5)
    assert all("lora" in n or "modules_to_save" in n for n, p in policy.named_parameters() if p.requires_grad)


def test_the_embedded_video_lm_offers_no_adapters_off_start() -> None:
    texts = ["a red circle moves left", "a blue square"] * 4
    assert build_model(None, texts=texts, lora=True).frozen_start() is None  # its encoder trains in full


def _argmax_decode(policy: VisionLanguagePolicy, clip: np.ndarray, prompt: str, steps: int) -> str:
    """Greedy decoding by hand: a full forward per token, the argmax appended."""
    inputs = policy.encode([clip], [prompt])
    generated: list[int] = []
    with torch.no_grad():
        for _ in range(steps):
            token = int(policy.lm(**inputs).logits[0, -1].argmax())
            if token == policy.eos_id:
                break
            generated.append(token)
            for name in ("input_ids", "attention_mask", "mm_token_type_ids"):
                if name in inputs:
                    extra = token if name == "input_ids" else int(name == "attention_mask")
                    inputs[name] = torch.cat([inputs[name], torch.tensor([[extra]])], dim=1)
    return policy.tokenizer.decode(generated, skip_special_tokens=True).strip()


@pytest.mark.parametrize("family", ["qwen2_vl", "llava_onevision"])
def test_greedy_generation_is_the_argmax_whatever_the_checkpoint_s_generation_defaults(
    checkpoints: dict[str, Path], family: str
) -> None:
    policy = build_model(str(checkpoints[family]))
    # Qwen-Instruct style defaults that would change the captions if generate() honoured them.
    policy.lm.generation_config = GenerationConfig(do_sample=True, temperature=0.01, repetition_penalty=5.0)
    clip = clips(1)[0]
    expected = _argmax_decode(policy, clip, PROMPTS[0], 8)
    assert policy.generate([clip], PROMPTS[:1], max_new_tokens=8) == [expected]
    assert policy.lm.generation_config.repetition_penalty == 5.0  # restored after the call


def test_sampling_is_reproducible_from_the_generator_and_contrastive_decoding_changes_it(
    checkpoints: dict[str, Path],
) -> None:
    policy = build_model(str(checkpoints["qwen2_vl"]))
    videos, prompts = clips(4), PROMPTS * 2

    def sample(seed: int, alpha: float = 0.0) -> list[str]:
        generator = torch.Generator().manual_seed(seed)
        return policy.generate(
            videos, prompts, do_sample=True, max_new_tokens=8, contrastive_alpha=alpha, generator=generator
        )

    assert sample(0) == sample(0)
    assert sample(0) != sample(1)
    assert sample(0, alpha=1.0) != sample(0)


def test_saved_policies_reload_with_the_same_outputs(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    policy = build_model(str(checkpoints["qwen2_5_vl"]), lora=True, train_projector=True)
    batch = policy.collate(clips(2), PROMPTS, RESPONSES)
    for parameter in (p for p in policy.parameters() if p.requires_grad):
        parameter.data.add_(0.05)  # trained adapters and projector
    policy.save(tmp_path / "saved")
    again = load_policy(tmp_path / "saved", lora=True)
    assert isinstance(again, VisionLanguagePolicy) and again.train_projector
    assert logp_sums(again, batch) == pytest.approx(logp_sums(policy, batch), abs=1e-4)


def test_trained_adapters_load_on_the_start_with_peft(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    from peft import PeftModel

    policy = build_model(str(checkpoints["qwen2_vl"]), lora=True)
    policy.start_path = str(checkpoints["qwen2_vl"])
    batch = policy.collate(clips(2), PROMPTS, RESPONSES)
    for parameter in (p for p in policy.parameters() if p.requires_grad):
        parameter.data.add_(0.05)
    policy.save_trained(tmp_path / "policy")
    assert (tmp_path / "policy" / "adapter_model.safetensors").is_file()
    base = AutoModelForImageTextToText.from_pretrained(str(checkpoints["qwen2_vl"]), local_files_only=True)
    loaded = PeftModel.from_pretrained(base, str(tmp_path / "policy"))
    inputs = {k.removeprefix("vision."): v for k, v in batch.items() if k not in ("frames", "labels")}
    with torch.no_grad():
        logits = loaded(**inputs).logits
    assert sequence_stats(logits, batch["labels"]).logp_sum.tolist() == pytest.approx(
        logp_sums(policy, batch), abs=1e-4
    )


def test_a_prompt_and_video_longer_than_the_context_is_a_clear_error(checkpoints: dict[str, Path]) -> None:
    policy = build_model(str(checkpoints["qwen2_vl"]))
    policy.lm.config.get_text_config().max_position_embeddings = 16
    with pytest.raises(ContextTooLongError, match="--frames"):
        policy.collate(clips(1), PROMPTS[:1], RESPONSES[:1])
