"""The video-LM policy on local Hugging Face checkpoints (Llama, GPT-2), their load errors, and LoRA."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from transformers import PreTrainedModel

from synpo_bench.api.stats import IGNORE_INDEX, sequence_stats
from synpo_bench.models import ModelLoadError, VideoLM, build_model, train_tokenizer
from tests._model_inputs import CAPTIONS, PROMPTS, random_clips

# --------------------------------------------------------------------------------- HF checkpoints


def save_llama_checkpoint(path: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer(CAPTIONS + PROMPTS)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))


def save_gpt2_checkpoint(path: Path) -> None:
    """GPT-2 style: absolute positions, BOS = EOS, and no pad token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(CAPTIONS + PROMPTS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>"
    )
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=64,
        n_layer=1,
        n_head=2,
        n_positions=128,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))


@pytest.mark.parametrize("save", [save_llama_checkpoint, save_gpt2_checkpoint], ids=["llama", "gpt2"])
def test_a_local_checkpoint_takes_the_same_code_path(save, tmp_path: Path) -> None:
    save(tmp_path / "ckpt")
    policy = build_model(str(tmp_path / "ckpt"), seed=0)
    assert policy.vision_config.hidden_size == 64 and policy.source == str(tmp_path / "ckpt")
    assert policy.tokenizer.pad_token_id is not None
    batch = policy.collate(random_clips(2), PROMPTS[:2], CAPTIONS[:2])
    labelled = batch["labels"] != IGNORE_INDEX
    assert (batch["input_ids"][labelled] == batch["labels"][labelled]).all()
    with torch.no_grad():
        logits = policy(batch["frames"], batch["input_ids"], batch["attention_mask"])
    assert logits.shape[:2] == batch["input_ids"].shape
    assert torch.isfinite(sequence_stats(logits, batch["labels"]).logp_sum).all()
    generator = torch.Generator().manual_seed(0)
    captions = policy.generate(
        random_clips(2), PROMPTS[:2], do_sample=True, generator=generator, max_new_tokens=6
    )
    assert len(captions) == 2 and all(isinstance(c, str) for c in captions)
    assert policy.generate(random_clips(2), PROMPTS[:2], max_new_tokens=6, contrastive_alpha=1.0)
    policy.save(tmp_path / "video")
    reloaded = VideoLM.load(tmp_path / "video")
    assert reloaded.generate(random_clips(2), PROMPTS[:2], max_new_tokens=6) == policy.generate(
        random_clips(2), PROMPTS[:2], max_new_tokens=6
    )


def test_missing_checkpoints_are_named_in_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ValueError, match="no-such-model"):
        build_model(str(missing))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="someone/not-downloaded"):
        build_model("someone/not-downloaded")
    with pytest.raises(ValueError, match="texts"):
        build_model(None)


# ----------------------------------------------------------------------------------------------- LoRA


def test_lora_trains_adapters_and_the_encoder_only(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    policy = build_model(texts=CAPTIONS, seed=0, lora=True)
    trainable = {name for name, p in policy.named_parameters() if p.requires_grad}
    assert any("lora_" in name for name in trainable)
    assert any(name.startswith("encoder.") for name in trainable)
    assert not any(name.startswith("lm.") and "lora_" not in name for name in trainable)
    language_model = policy.language_model()
    assert language_model is not policy.lm and isinstance(language_model, PreTrainedModel)
    assert any("lora_" in name for name, _ in language_model.named_parameters())  # adapters stay in
    batch = policy.collate(random_clips(1), PROMPTS[:1], CAPTIONS[:1])
    with torch.no_grad():
        before = policy(batch["frames"], batch["input_ids"], batch["attention_mask"])
    policy.save(tmp_path / "lora")
    loaded = VideoLM.load(tmp_path / "lora")
    assert loaded.lora
    with torch.no_grad():
        after = loaded(batch["frames"], batch["input_ids"], batch["attention_mask"])
    assert torch.allclose(before, after, atol=1e-5)  # merged adapters + fresh (zero) adapters


def test_lora_without_peft_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)
    with pytest.raises(ModelLoadError, match="peft"):
        build_model(texts=CAPTIONS, lora=True)
