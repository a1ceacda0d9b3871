"""Caption decoding for a frame-prefixed causal LM: greedy, sampled, or visual contrastive decoding.

One batch at a time, in a hand-written loop (``generate_batch`` says why). Prompts are left-padded, so
every row's next token is read at the last position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from synpo_bench.models.lm import CACHE_NAME, positions_from_mask, require_id


class PrefixedLM(Protocol):
    """What decoding needs of a model: its LM, its tokenizer, and how it builds frame-prefixed inputs."""

    @property
    def lm(self) -> nn.Module: ...

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase: ...

    @property
    def keeps_logits(self) -> bool:
        """Whether ``lm`` takes ``logits_to_keep``."""
        ...

    @property
    def device(self) -> torch.device: ...

    def prompt_ids(self, prompt: str) -> list[int]:
        """``[BOS] prompt`` token ids."""
        ...

    def check_length(self, text_tokens: int) -> None:
        """Raise when frame tokens + ``text_tokens`` exceed the LM's positions."""
        ...

    def prefixed_inputs(
        self, frames: Tensor | None, input_ids: Tensor, attention_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Input embeddings and attention mask with the frame tokens (if any) in front of the text."""
        ...


def warped(logits: Tensor, temperature: float, top_k: int | None) -> Tensor:
    """Logits ``[B, V]`` divided by ``temperature``, all but the ``top_k`` largest per row set to -inf:
    what sampling draws from, for every policy."""
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        threshold = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    return logits


@dataclass(frozen=True)
class Decoding:
    """How the next token is chosen; ``contrastive_alpha > 0`` adds the frame-less stream."""

    do_sample: bool
    temperature: float
    top_k: int | None
    max_new_tokens: int
    contrastive_alpha: float
    generator: torch.Generator | None

    def choose(self, logits: Tensor) -> Tensor:
        """Next token per row from float32 logits ``[B, V]``."""
        if not self.do_sample:
            return logits.argmax(dim=-1)
        probs = warped(logits, self.temperature, self.top_k).softmax(dim=-1)
        if self.generator is not None and self.generator.device != probs.device:
            return torch.multinomial(probs.cpu(), 1, generator=self.generator).squeeze(-1).to(probs.device)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)


@dataclass
class _Stream:
    """One decoding stream: its KV cache, attention mask, next position and last logits."""

    cache: Any
    mask: Tensor
    next_position: Tensor
    logits: Tensor

    @classmethod
    def start(cls, model: PrefixedLM, frames: Tensor | None, input_ids: Tensor, mask: Tensor) -> _Stream:
        embeds, full_mask = model.prefixed_inputs(frames, input_ids, mask)
        positions = positions_from_mask(full_mask)
        extra = {"logits_to_keep": 1} if model.keeps_logits else {}
        out = model.lm(
            inputs_embeds=embeds, attention_mask=full_mask, position_ids=positions, use_cache=True, **extra
        )
        return cls(getattr(out, CACHE_NAME), full_mask, positions[:, -1] + 1, out.logits[:, -1, :])

    def advance(self, model: PrefixedLM, token: Tensor) -> None:
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=1)
        out = model.lm(
            input_ids=token[:, None],
            attention_mask=self.mask,
            position_ids=self.next_position[:, None],
            use_cache=True,
            **{CACHE_NAME: self.cache},
        )
        self.cache = getattr(out, CACHE_NAME)
        self.next_position = self.next_position + 1
        self.logits = out.logits[:, -1, :]


def check_decoding(
    n_clips: int | None, n_prompts: int, do_sample: bool, temperature: float, contrastive_alpha: float
) -> None:
    """The checks every policy's ``generate`` makes of its arguments (``n_clips`` None: text only)."""
    if n_clips is not None and n_clips != n_prompts:
        raise ValueError(f"generate needs one clip per prompt, got {n_clips} and {n_prompts}")
    if do_sample and temperature <= 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
    if contrastive_alpha < 0:
        raise ValueError(f"contrastive_alpha must be >= 0, got {contrastive_alpha}")


def generate_batch(
    model: PrefixedLM, frames: Tensor | None, prompts: list[str], decoding: Decoding
) -> list[str]:
    """Captions for one batch of (clip, prompt) rows; ``frames=None`` decodes from the text alone."""
    # A hand-written loop rather than ``lm.generate``: contrastive decoding runs two differently
    # conditioned streams (with and without the frame prefix), each with its own KV cache, and combines
    # their logits at every step; HF's generate drives a single stream.
    prompt_ids = [model.prompt_ids(prompt) for prompt in prompts]
    model.check_length(max(map(len, prompt_ids)) + decoding.max_new_tokens)
    input_ids, mask = _left_padded(model, prompt_ids)
    with_frames = _Stream.start(model, frames, input_ids, mask)
    without_frames = _Stream.start(model, None, input_ids, mask) if decoding.contrastive_alpha > 0 else None
    eos = require_id(model.tokenizer.eos_token_id, "eos")
    pad = require_id(model.tokenizer.pad_token_id, "pad")
    finished = torch.zeros(len(prompts), dtype=torch.bool, device=model.device)
    generated: list[Tensor] = []
    for step in range(decoding.max_new_tokens):
        logits = with_frames.logits.float()
        if without_frames is not None:
            alpha = decoding.contrastive_alpha
            logits = (1 + alpha) * logits - alpha * without_frames.logits.float()
        token = decoding.choose(logits).masked_fill(finished, pad)
        generated.append(token)
        finished |= token == eos
        if bool(finished.all()) or step == decoding.max_new_tokens - 1:
            break
        with_frames.advance(model, token)
        if without_frames is not None:
            without_frames.advance(model, token)
    if not generated:
        return [""] * len(prompts)
    return _decode(model.tokenizer, torch.stack(generated, dim=1).tolist(), eos)


def _left_padded(model: PrefixedLM, rows: list[list[int]]) -> tuple[Tensor, Tensor]:
    length = max(map(len, rows))
    pad = require_id(model.tokenizer.pad_token_id, "pad")
    input_ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for index, row in enumerate(rows):
        input_ids[index, length - len(row) :] = torch.tensor(row)
        mask[index, length - len(row) :] = 1
    return input_ids.to(model.device), mask.to(model.device)


def _decode(tokenizer: PreTrainedTokenizerBase, rows: list[list[int]], eos: int) -> list[str]:
    texts = []
    for row in rows:
        ids = row[: row.index(eos)] if eos in row else row
        texts.append(tokenizer.decode(ids, skip_special_tokens=True).strip())
    return texts
