"""The video-LM policy: protocol, tokenizer, collate masking, logits alignment, generation, persistence."""

from __future__ import annotations

import copy
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from synpo_bench.api.models import Policy
from synpo_bench.api.stats import IGNORE_INDEX, sequence_stats
from synpo_bench.models import VideoLM, build_model, train_tokenizer
from tests._model_inputs import CAPTIONS, FRAME_SHAPE, PROMPTS, random_clips


@pytest.fixture(scope="module")
def model() -> VideoLM:
    return build_model(texts=CAPTIONS + PROMPTS, seed=3).eval()


def ids(model: VideoLM, text: str) -> list[int]:
    return model.tokenizer(text, add_special_tokens=False)["input_ids"]


# ------------------------------------------------------------------------------------------- protocol


def test_video_lm_offers_every_member_of_the_policy_protocol(model: VideoLM) -> None:
    policy: Policy = model  # the engine sees the model through this protocol only
    members = {name for name in vars(Policy) if not name.startswith("_")} | set(Policy.__annotations__)
    assert members >= {"collate", "generate", "device", "tokenizer", "lm", "eval", "train"}
    assert all(hasattr(policy, name) for name in members) and callable(policy)
    assert model.language_model() is model.lm  # no peft wrapper to take off
    assert model.cache_key is None  # only a warm start names its weights


# ------------------------------------------------------------------------------------------ tokenizer


def test_tokenizer_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    first, second = train_tokenizer(CAPTIONS), train_tokenizer(list(reversed(CAPTIONS)))
    assert first.get_vocab() == second.get_vocab()
    for text in CAPTIONS:
        assert first.decode(first(text)["input_ids"]) == text  # exact: spaces and punctuation kept
    assert len(first("camera")["input_ids"]) == 1  # a word seen twice is one token
    assert len(first("circle")["input_ids"]) > 1  # a word seen once is spelled in pieces
    first.save_pretrained(str(tmp_path))
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(str(tmp_path), local_files_only=True)
    assert loaded.get_vocab() == first.get_vocab()
    specials = (loaded.bos_token, loaded.eos_token, loaded.pad_token, loaded.unk_token)
    assert specials == ("<s>", "</s>", "<pad>", "<unk>")
    assert loaded.decode(loaded("a red circle")["input_ids"]) == "a red circle"


# -------------------------------------------------------------------------------------------- collate


def test_collate_labels_only_the_response_and_eos(model: VideoLM) -> None:
    prompts, responses = (
        ["describe.", "describe the video briefly."],
        ["A red circle moves to the left.", "A box."],
    )
    batch = model.collate(random_clips(2), prompts, responses)
    bos, eos, pad = model.tokenizer.bos_token_id, model.tokenizer.eos_token_id, model.tokenizer.pad_token_id
    rows = [[bos, *ids(model, p), *ids(model, r), eos] for p, r in zip(prompts, responses, strict=True)]
    width = max(map(len, rows))
    assert batch["input_ids"].shape == (2, width) and batch["frames"].shape == (2, *FRAME_SHAPE)
    for index, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        n_prompt = 1 + len(ids(model, prompt))
        padding = width - len(rows[index])
        assert batch["input_ids"][index].tolist() == rows[index] + [pad] * padding  # right padding
        assert batch["attention_mask"][index].tolist() == [1] * len(rows[index]) + [0] * padding
        expected = [IGNORE_INDEX] * n_prompt + [*ids(model, response), eos] + [IGNORE_INDEX] * padding
        assert batch["labels"][index].tolist() == expected
    assert batch["frames"].dtype == torch.uint8


def test_text_only_rows_skip_the_frame_prefix(model: VideoLM) -> None:
    """``frames=None`` (text tasks): the same text rows, and logits equal to the bare LM's on them."""
    prompts, responses = ["describe.", "describe the video briefly."], ["A red circle.", "A box."]
    batch = model.collate(None, prompts, responses)
    assert batch["frames"] is None
    with_frames = model.collate(random_clips(2), prompts, responses)
    assert batch["input_ids"].tolist() == with_frames["input_ids"].tolist()
    with torch.no_grad():
        logits = model(None, batch["input_ids"], batch["attention_mask"])
        bare = model.lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    mask = batch["attention_mask"].bool()
    assert torch.allclose(logits[mask], bare[mask], atol=1e-5)
    assert len(model.generate(None, prompts, max_new_tokens=3)) == 2


def test_collate_rejects_mismatched_lengths_and_frame_shapes(model: VideoLM) -> None:
    with pytest.raises(ValueError, match="as many clips"):
        model.collate(random_clips(1), ["a", "b"], ["c", "d"])
    with pytest.raises(ValueError, match="frames of shape"):
        model.collate([np.zeros((4, 32, 32, 3), np.uint8)], ["a"], ["b"])


# ------------------------------------------------------------------------------------------- forward


def test_sequence_stats_match_a_per_token_loop_over_prefixes(model: VideoLM) -> None:
    """The fast path (one forward, shifted) equals scoring each response token from its own prefix."""
    clips = random_clips(2, seed=1)
    batch = model.collate(clips, ["describe.", "describe the video briefly."], CAPTIONS[:2])
    with torch.no_grad():
        stats = sequence_stats(
            model(batch["frames"], batch["input_ids"], batch["attention_mask"]), batch["labels"]
        )
        for row in range(2):
            total, count = 0.0, 0
            for position in range(1, batch["input_ids"].shape[1]):
                target = int(batch["labels"][row, position])
                if target == IGNORE_INDEX:
                    continue
                prefix = batch["input_ids"][row : row + 1, :position]
                logits = model(batch["frames"][row : row + 1], prefix, torch.ones_like(prefix))
                total += float(torch.log_softmax(logits[0, -1].double(), -1)[target])
                count += 1
            assert stats.n_tokens[row].item() == count
            assert stats.logp_sum[row].item() == pytest.approx(total, abs=1e-3)


def test_logits_cover_text_positions_and_frames_matter(model: VideoLM) -> None:
    batch = model.collate(random_clips(2), ["describe."] * 2, CAPTIONS[:2])
    with torch.no_grad():
        with_frames = model(batch["frames"], batch["input_ids"], batch["attention_mask"])
        text_only = model(None, batch["input_ids"], batch["attention_mask"])
        other_clips = model(
            model.frames_tensor(random_clips(2, seed=9)), batch["input_ids"], batch["attention_mask"]
        )
    assert with_frames.shape == (*batch["input_ids"].shape, len(model.tokenizer))
    assert text_only.shape == with_frames.shape
    assert not torch.allclose(with_frames, text_only, atol=1e-4)
    assert not torch.allclose(with_frames, other_clips, atol=1e-4)


# ---------------------------------------------------------------------------------------- generation


def test_sampling_is_deterministic_for_a_generator(model: VideoLM) -> None:
    clips, prompts = random_clips(3), PROMPTS

    def sample(seed: int) -> list[str]:
        generator = torch.Generator().manual_seed(seed)
        return model.generate(
            clips, prompts, do_sample=True, max_new_tokens=12, generator=generator, top_k=50
        )

    assert sample(0) == sample(0)
    assert sample(0) != sample(1)
    assert model.generate(clips, prompts, max_new_tokens=12) == model.generate(
        clips, prompts, max_new_tokens=12
    )


def test_left_padded_batches_generate_what_single_rows_do(model: VideoLM) -> None:
    clips, prompts = random_clips(3, seed=2), PROMPTS  # prompts of different lengths: left padding
    batched = model.generate(clips, prompts, max_new_tokens=10)
    single = [model.generate([c], [p], max_new_tokens=10)[0] for c, p in zip(clips, prompts, strict=True)]
    assert batched == single
    assert model.generate(clips, prompts, max_new_tokens=10, batch_size=2) == batched


def test_contrastive_step_matches_hand_computation(model: VideoLM) -> None:
    clips, prompts, alpha = random_clips(3, seed=4), PROMPTS, 2.0
    rows = [[model.tokenizer.bos_token_id, *ids(model, p)] for p in prompts]
    expected = []
    with torch.no_grad():
        for clip, row in zip(clips, rows, strict=True):
            input_ids = torch.tensor([row])
            mask = torch.ones_like(input_ids)
            seeing = model(model.frames_tensor([clip]), input_ids, mask)[0, -1].double()
            blind = model(None, input_ids, mask)[0, -1].double()
            token = int(((1 + alpha) * seeing - alpha * blind).argmax())
            expected.append(model.tokenizer.decode([token], skip_special_tokens=True).strip())
    got = model.generate(clips, prompts, max_new_tokens=1, contrastive_alpha=alpha)
    assert got == expected
    plain = model.generate(clips, prompts, max_new_tokens=8)
    assert model.generate(clips, prompts, max_new_tokens=8, contrastive_alpha=alpha) != plain


def test_generation_stops_at_eos_and_restores_training_mode(model: VideoLM) -> None:
    model.train()
    bonus = torch.zeros(len(model.tokenizer))
    bonus[model.tokenizer.eos_token_id] = 1000.0  # EOS wins every step
    hook = model.lm.get_output_embeddings().register_forward_hook(lambda _m, _i, out: out + bonus)
    try:
        assert model.generate(random_clips(2), PROMPTS[:2], max_new_tokens=5) == ["", ""]
        assert model.training
    finally:
        hook.remove()
        model.eval()


# --------------------------------------------------------------------------------------- persistence


def test_save_load_round_trip(model: VideoLM, tmp_path: Path) -> None:
    model.save(tmp_path / "saved")
    loaded = VideoLM.load(tmp_path / "saved").eval()
    batch = model.collate(random_clips(2), PROMPTS[:2], CAPTIONS[:2])
    with torch.no_grad():
        before = model(batch["frames"], batch["input_ids"], batch["attention_mask"])
        after = loaded(batch["frames"], batch["input_ids"], batch["attention_mask"])
    assert torch.equal(before, after)
    assert loaded.tokenizer.get_vocab() == model.tokenizer.get_vocab()
    assert loaded.generate(random_clips(2), PROMPTS[:2], max_new_tokens=6) == model.generate(
        random_clips(2), PROMPTS[:2], max_new_tokens=6
    )
    copied = copy.deepcopy(loaded)  # the engine deep-copies the starting policy for every cell
    assert copied.generate(random_clips(1), PROMPTS[:1], max_new_tokens=6) == loaded.generate(
        random_clips(1), PROMPTS[:1], max_new_tokens=6
    )


def test_build_is_a_pure_function_of_the_seed() -> None:
    first, second = build_model(texts=CAPTIONS, seed=5), build_model(texts=CAPTIONS, seed=5)
    state = first.state_dict()
    assert all(torch.equal(state[k], v) for k, v in second.state_dict().items())
    third = build_model(texts=CAPTIONS, seed=6)
    assert not torch.equal(third.encoder.region.weight, first.encoder.region.weight)
