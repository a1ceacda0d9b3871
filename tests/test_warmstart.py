"""The SFT warm start: its loss, its training effect, and its content-addressed, atomic cache."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from synpo_bench.api.stats import IGNORE_INDEX
from synpo_bench.api.tasks import CaptionExample, TaskData, get_task
from synpo_bench.models import VideoLM, build_model, warm_start
from synpo_bench.models.sft import _sft_batches, token_cross_entropy
from synpo_bench.models.warmstart import MAX_STEPS, MIN_STEPS, default_steps


@pytest.fixture(scope="module")
def tiny_world() -> TaskData:
    return get_task("vdc")().load(None, seed=0, size="tiny")


def test_token_cross_entropy_is_the_mean_of_per_sequence_means() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 3, 4, IGNORE_INDEX], [IGNORE_INDEX, 1, 2, 6, 0]])
    expected = []
    for row in range(2):
        terms = [
            -torch.log_softmax(logits[row, t - 1], -1)[labels[row, t]].item()
            for t in range(1, 5)
            if labels[row, t] != IGNORE_INDEX
        ]
        expected.append(sum(terms) / len(terms))
    assert token_cross_entropy(logits, labels).item() == pytest.approx(sum(expected) / 2, rel=1e-6)


def test_default_steps_scale_with_the_data_within_bounds() -> None:
    assert default_steps(10, 32) == MIN_STEPS
    assert default_steps(10**6, 32) == MAX_STEPS
    assert MIN_STEPS < default_steps(500, 16) < MAX_STEPS


def test_sft_lowers_the_loss_on_its_examples(tiny_world: TaskData, tmp_path: Path) -> None:
    examples = [e for e in tiny_world.train if e.dimension == "camera"][:16]
    policy, info = warm_start(
        examples, tiny_world.frames, cache_dir=tmp_path, steps=30, batch_size=8, lr=3e-3, seed=0
    )
    fresh, _ = warm_start(examples, tiny_world.frames, cache_dir=tmp_path / "other", steps=1, lr=1e-9)
    batch = policy.collate(
        [tiny_world.frames[e.clip_id] for e in examples],
        [e.prompt for e in examples],
        [e.references[0] for e in examples],
    )
    with torch.no_grad():
        trained = token_cross_entropy(policy(**_inputs(batch)), batch["labels"]).item()
        untrained = token_cross_entropy(fresh(**_inputs(batch)), batch["labels"]).item()
    assert trained < untrained - 1.0
    assert math.isfinite(info.final_loss) and info.steps == 30 and not info.cached


def _inputs(batch: dict) -> dict:
    return {key: batch[key] for key in ("frames", "input_ids", "attention_mask")}


def test_the_second_call_loads_the_cached_checkpoint(tiny_world: TaskData, tmp_path: Path) -> None:
    examples = tiny_world.train[:24]
    settings = {"cache_dir": tmp_path, "steps": 12, "batch_size": 8, "lr": 1e-3, "seed": 1}
    start = time.perf_counter()
    first, first_info = warm_start(examples, tiny_world.frames, **settings)
    first_seconds = time.perf_counter() - start
    start = time.perf_counter()
    second, second_info = warm_start(examples, tiny_world.frames, **settings)
    second_seconds = time.perf_counter() - start
    assert (first_info.cached, second_info.cached) == (False, True)
    assert second_info.key == first_info.key and second_info.final_loss == first_info.final_loss
    assert second_seconds < first_seconds
    first_state, second_state = first.state_dict(), second.state_dict()
    assert first_state.keys() == second_state.keys()
    assert all(torch.equal(first_state[k], second_state[k]) for k in first_state)
    assert isinstance(second, VideoLM)
    assert first.cache_key == second.cache_key == first_info.key  # names the weights for the pair cache
    # Only the finished entry is left: the temporary folder was renamed into place.
    assert [p.name for p in tmp_path.iterdir()] == [first_info.key]
    assert (tmp_path / first_info.key / "warmstart.json").is_file()


def test_the_key_changes_with_data_and_hyper_parameters(tiny_world: TaskData, tmp_path: Path) -> None:
    examples = tiny_world.train[:8]
    base = {"cache_dir": tmp_path, "steps": 2, "batch_size": 4, "lr": 1e-3, "seed": 0}
    keys = {
        warm_start(examples, tiny_world.frames, **base)[1].key,
        warm_start(examples, tiny_world.frames, **{**base, "lr": 2e-3})[1].key,
        warm_start(examples, tiny_world.frames, **{**base, "seed": 1})[1].key,
        warm_start(tiny_world.train[1:9], tiny_world.frames, **base)[1].key,
    }
    assert len(keys) == 4


def test_missing_frames_are_named(tiny_world: TaskData, tmp_path: Path) -> None:
    first, other = (
        tiny_world.train[0],
        next(e for e in tiny_world.train if e.clip_id != tiny_world.train[0].clip_id),
    )
    some_frames = {first.clip_id: tiny_world.frames[first.clip_id]}
    with pytest.raises(ValueError, match=f"no frames for 1 clip.*'{other.clip_id}'"):
        warm_start([first, other], some_frames, cache_dir=tmp_path, steps=1)


def test_no_frames_at_all_is_a_text_task(tmp_path: Path) -> None:
    """An empty frame mapping trains the LM on text alone, and the tokenizer covers the prompts: "*",
    "?" and "W" occur in no answer, so a tokenizer trained on the answers alone would map them to unk."""
    examples = [
        CaptionExample(f"q{k}", "text", f"What is {a} * {b}?", (str(a * b),))
        for k, (a, b) in enumerate([(7, 9), (6, 8), (3, 4), (5, 5)])
    ]
    policy, info = warm_start(examples, {}, cache_dir=tmp_path, steps=2, batch_size=2)
    assert info.steps == 2 and math.isfinite(info.final_loss)
    unknown = policy.tokenizer.unk_token_id
    assert all(unknown not in policy.tokenizer(e.prompt)["input_ids"] for e in examples)


def test_sft_batches_mix_caption_kinds(tiny_world: TaskData) -> None:
    """Each batch mixes caption kinds (at least three of the five), never one kind per batch as a length
    sort would give (one-kind batches ground the frames far more slowly; see ``_sft_batches``)."""
    examples = tiny_world.train
    policy = build_model(None, texts=[r for e in examples for r in e.references])
    batches = _sft_batches(policy, examples, tiny_world.frames, batch_size=40, seed=0)
    prompts = {tuple(policy.prompt_ids(e.prompt)): e.dimension for e in examples}
    kinds_per_batch = []
    for _ in range(3):
        batch = next(batches)
        assert batch["input_ids"].shape[0] == 40
        rows = batch["input_ids"].tolist()
        kinds_per_batch.append(
            {kind for ids, kind in prompts.items() for row in rows if row[: len(ids)] == list(ids)}
        )
    assert all(len(kinds) >= 3 for kinds in kinds_per_batch), kinds_per_batch
