"""Caption decoding for a vision-language checkpoint, through its own ``generate()``.

The same decoding rules as the embedded video-LM's hand-written loop (generation.py), so a comparison
means the same on both: greedy, or sampling at ``temperature`` over the ``top_k`` most likely tokens, and
visual contrastive decoding, ``(1 + a) * logits(with the video) - a * logits(without it)`` at every
step, applied before the temperature and the top-k cut. The checkpoint's own generation defaults
(Qwen-Instruct ships temperature 0.01, top_k 1 and a repetition penalty) are set aside for the call:
every loss, and the start, decode under the settings the run states.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, PreTrainedTokenizerBase

from synpo_bench.models.generation import check_decoding, warped
from synpo_bench.models.lm import require_id, unwrap_lora


class VisionLanguagePolicy(Protocol):
    """What decoding needs of ``vlm.VisionLanguagePolicy``."""

    lm: Any
    """The checkpoint (a peft model under LoRA)."""
    tokenizer: PreTrainedTokenizerBase

    @property
    def device(self) -> torch.device: ...

    @property
    def eos_id(self) -> int: ...

    def encode(self, frames: Sequence[np.ndarray] | None, prompts: Sequence[str]) -> dict[str, Tensor]: ...

    def on_device(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]: ...


class _Steering(LogitsProcessor):
    """The contrastive combination (when ``frameless`` is given), then temperature and top-k.

    The frame-less stream is re-run over its whole prefix at each step instead of keeping a KV cache of
    its own: families compute positions differently (Qwen's 3-D rope), and the full forward needs none
    of that bookkeeping. It costs one forward over a short text per step, for the contrastive samples only.
    """

    def __init__(
        self,
        policy: VisionLanguagePolicy,
        frameless: dict[str, Tensor] | None,
        alpha: float,
        temperature: float,
        top_k: int | None,
        prompt_length: int,
    ) -> None:
        self.policy = policy
        self.frameless = frameless
        self.alpha = alpha
        self.temperature = temperature
        self.top_k = top_k
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        scores = scores.float()
        if self.frameless is not None:
            generated = input_ids[:, self.prompt_length :]
            ids = torch.cat([self.frameless["input_ids"], generated], dim=1)
            mask = torch.cat([self.frameless["attention_mask"], torch.ones_like(generated)], dim=1)
            blind = self.policy.lm(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, -1].float()
            scores = (1 + self.alpha) * scores - self.alpha * blind
        return warped(scores, self.temperature, self.top_k)


def generate_captions(
    policy: VisionLanguagePolicy,
    clips: Sequence[np.ndarray] | None,
    prompts: list[str],
    *,
    do_sample: bool,
    temperature: float,
    top_k: int | None,
    max_new_tokens: int,
    contrastive_alpha: float,
    generator: torch.Generator | None,
    batch_size: int,
) -> list[str]:
    check_decoding(
        None if clips is None else len(clips), len(prompts), do_sample, temperature, contrastive_alpha
    )
    captions: list[str] = []
    with _left_padding(policy), _plain_defaults(policy, do_sample, max_new_tokens):
        for start in range(0, len(prompts), batch_size):
            chunk = slice(start, start + batch_size)
            batch_clips = None if clips is None else clips[chunk]
            seed = None
            if do_sample and generator is not None:
                seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            captions += _one_batch(
                policy,
                batch_clips,
                prompts[chunk],
                temperature if do_sample else 1.0,
                top_k,
                contrastive_alpha,
                seed,
            )
    return captions


def _one_batch(
    policy: VisionLanguagePolicy,
    clips: Sequence[np.ndarray] | None,
    prompts: list[str],
    temperature: float,
    top_k: int | None,
    alpha: float,
    seed: int | None,
) -> list[str]:
    device = policy.device
    inputs = policy.on_device(policy.encode(clips, prompts))
    prompt_length = inputs["input_ids"].shape[1]
    frameless = None
    if alpha > 0 and clips is not None:
        encoded = policy.encode(None, prompts)
        frameless = policy.on_device({k: encoded[k] for k in ("input_ids", "attention_mask")})
    steering = _Steering(policy, frameless, alpha, temperature, top_k, prompt_length)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(seed)  # HF samples from the global generator: seeded from the caller's
        output = policy.lm.generate(**inputs, logits_processor=LogitsProcessorList([steering]))
    return _decode(policy, output[:, prompt_length:].tolist())


def _decode(policy: VisionLanguagePolicy, rows: list[list[int]]) -> list[str]:
    eos = policy.eos_id
    texts = []
    for row in rows:
        ids = row[: row.index(eos)] if eos in row else row
        texts.append(policy.tokenizer.decode(ids, skip_special_tokens=True).strip())
    return texts


@contextmanager
def _left_padding(policy: VisionLanguagePolicy) -> Iterator[None]:
    """Batched prompts end at the same position, where every row's next token is read."""
    tokenizer = policy.tokenizer
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        yield
    finally:
        tokenizer.padding_side = side


@contextmanager
def _plain_defaults(policy: VisionLanguagePolicy, do_sample: bool, max_new_tokens: int) -> Iterator[None]:
    """Swap the checkpoint's generation config for one that states only this run's settings: HF merges
    the model's defaults into whatever a call leaves at the global default."""
    model = unwrap_lora(policy.lm)
    saved = model.generation_config
    model.generation_config = GenerationConfig(
        do_sample=do_sample,
        max_new_tokens=max_new_tokens,
        eos_token_id=policy.eos_id,
        pad_token_id=require_id(policy.tokenizer.pad_token_id, "pad"),
        top_k=None,
        top_p=None,
    )
    try:
        yield
    finally:
        model.generation_config = saved
