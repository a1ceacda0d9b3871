"""The inputs both sides of the TRL comparison start from (benchmarks/trl_parity.py): one Llama built from a
config (seeded), one fixed set of ragged preference pairs as token ids, the character-level tokenizer that
lets TRL tokenize them back to the same ids, and the same pairs as TRL's text data set and as our engine's
batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from datasets import Dataset
from tokenizers import Tokenizer, models
from torch import Tensor, nn
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from synpo_bench.api.stats import IGNORE_INDEX

FIRST_CHAR = 0x20000
"""Token id i is the character chr(FIRST_CHAR + i): single code points, no normaliser touches them."""
EOS = "<eos>"


@dataclass(frozen=True)
class ModelShape:
    vocab: int = 512
    width: int = 128
    layers: int = 2
    heads: int = 4
    intermediate: int = 256

    @property
    def eos_id(self) -> int:
        return self.vocab - 1  # the last id; pair tokens are drawn below it


def build_lm(shape: ModelShape, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=shape.vocab,
        hidden_size=shape.width,
        intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
        max_position_embeddings=4096,
        eos_token_id=shape.eos_id,
        pad_token_id=shape.eos_id,
    )
    return LlamaForCausalLM(config)


class TextPolicy(nn.Module):
    """A causal LM as the engine's policy: ``forward(frames, input_ids, attention_mask) -> logits``."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, frames: Tensor | None, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.lm(input_ids=input_ids, attention_mask=attention_mask).logits


@dataclass(frozen=True)
class Pairs:
    """Preference pairs as token ids, without the EOS each response gets on both sides."""

    prompts: list[list[int]]
    chosen: list[list[int]]
    rejected: list[list[int]]

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def longest_row(self) -> int:
        """Tokens of the longest prompt + response + EOS."""
        responses = zip(self.chosen, self.rejected, strict=True)
        return max(
            len(p) + max(len(c), len(r)) + 1 for p, (c, r) in zip(self.prompts, responses, strict=True)
        )


def make_pairs(count: int, length: int, shape: ModelShape, seed: int = 0) -> Pairs:
    """Ragged pairs (prompt + response + EOS at most ``length`` tokens): the lengths differ between rows,
    so padding, summed versus averaged log-probabilities and the NLL's averaging all show."""
    generator = torch.Generator().manual_seed(seed)

    def draw(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=generator))

    def tokens(n: int) -> list[int]:
        return torch.randint(0, shape.eos_id, (n,), generator=generator).tolist()

    prompts, chosen, rejected = [], [], []
    for _ in range(count):
        prompt = draw(max(1, length // 8), max(1, length // 4))
        prompts.append(tokens(prompt))
        room = length - prompt - 1
        chosen.append(tokens(draw(max(1, room // 3), room)))
        rejected.append(tokens(draw(max(1, room // 3), room)))
    return Pairs(prompts, chosen, rejected)


def char_tokenizer(shape: ModelShape) -> PreTrainedTokenizerFast:
    """Id i <-> one character; BPE without merges splits a string into its characters."""
    vocab = {chr(FIRST_CHAR + i): i for i in range(shape.eos_id)}
    vocab[EOS] = shape.eos_id
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.BPE(vocab=vocab, merges=[])), eos_token=EOS, pad_token=EOS
    )


def text_dataset(pairs: Pairs) -> Dataset:
    def text(ids: list[int]) -> str:
        return "".join(chr(FIRST_CHAR + i) for i in ids)

    return Dataset.from_dict(
        {
            "prompt": [text(p) for p in pairs.prompts],
            "chosen": [text(c) for c in pairs.chosen],
            "rejected": [text(r) for r in pairs.rejected],
        }
    )


def engine_batch(pairs: Pairs, shape: ModelShape) -> dict[str, Any]:
    """Our batch of all the pairs: chosen rows then rejected rows, right-padded with the EOS as TRL pads."""
    rows = [
        p + r + [shape.eos_id] for p, r in zip(pairs.prompts * 2, pairs.chosen + pairs.rejected, strict=True)
    ]
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), shape.eos_id)
    attention_mask = torch.zeros_like(input_ids)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    for index, (row, prompt) in enumerate(zip(rows, pairs.prompts * 2, strict=True)):
        input_ids[index, : len(row)] = torch.tensor(row)
        attention_mask[index, : len(row)] = 1
        labels[index, len(prompt) : len(row)] = torch.tensor(row[len(prompt) :])
    return {
        "frames": None,
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels,
        "pair_index": torch.arange(len(pairs)),
    }
