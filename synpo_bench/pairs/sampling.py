"""Candidate captions for every training prompt: temperature samples, then visual-contrastive ones."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from synpo_bench.api.models import Policy
from synpo_bench.api.tasks import CaptionExample, TaskData
from synpo_bench.pairs.settings import PairSettings, Progress


def sample_candidates(
    model: Policy,
    data: TaskData,
    examples: Sequence[CaptionExample],
    settings: PairSettings,
    seed: int,
    progress: Progress | None = None,
) -> tuple[list[list[str]], list[str]]:
    """``n_samples`` candidates per example (samples first, then contrastive ones) and their sources."""
    # Generate dimension by dimension: rows of a batch then stop at similar lengths.
    order = sorted(range(len(examples)), key=lambda i: (examples[i].dimension, i))
    frames = [data.frames[examples[i].clip_id] for i in order]
    prompts = [examples[i].prompt for i in order]
    max_new_tokens = settings.max_new_tokens or caption_token_budget(model.tokenizer, examples)
    generator = torch.Generator().manual_seed(seed)
    n_plain = settings.n_samples - settings.n_contrastive
    sources = ["sample"] * n_plain + ["contrastive"] * settings.n_contrastive
    candidates: list[list[str]] = [[] for _ in examples]
    for number, source in enumerate(sources):
        texts = model.generate(
            frames,
            prompts,
            do_sample=True,
            temperature=settings.temperature,
            top_k=settings.top_k,
            max_new_tokens=max_new_tokens,
            contrastive_alpha=settings.contrastive_alpha if source == "contrastive" else 0.0,
            generator=generator,
            batch_size=settings.batch_size,
        )
        for position, text in zip(order, texts, strict=True):
            candidates[position].append(text)
        if progress is not None:
            progress("sampling", number + 1, len(sources))
    return candidates, sources


def caption_token_budget(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[CaptionExample], *, cap: int | None = None
) -> int:
    """The longest reference of ``examples`` in the tokenizer's tokens, plus room for the EOS and a little
    rambling (which the judge then sees); at most ``cap``. 48 when the examples carry no reference."""
    references = [reference for example in examples for reference in example.references]
    if not references:
        return 48
    budget = max(map(len, tokenizer(references, add_special_tokens=False)["input_ids"])) + 8
    return budget if cap is None else min(cap, budget)
