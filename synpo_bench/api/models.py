"""The policy contract: what the engine, the pair pipeline and the evaluation call on a model.

``synpo_bench.models.VideoLM`` (the tiny embedded video-LM, or a local causal LM with a frame encoder
added) and ``synpo_bench.models.VisionLanguagePolicy`` (a vision-language checkpoint with its own vision
tower and processor) implement it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from synpo_bench.api.tasks import PreferencePair

Batch = dict[str, Tensor | None]
"""A collated batch: ``frames`` (None for text, and for a checkpoint whose processor took the clips),
``input_ids``, ``attention_mask``, ``labels``, and a vision-language checkpoint's processor outputs
(pixel values, grids, ...) under ``vision.<name>``; for preference training the rows are the chosen
responses then the rejected ones, and ``pair_index`` holds each pair's index in the task's pair list."""

VISION_PREFIX = "vision."

FrameInput = np.ndarray | Tensor
"""One clip's frames: uint8 ``[n_frames, height, width, 3]``."""


class Policy(Protocol):
    """A trainable captioner: frames + prompt -> response, one forward pass per batch of rows."""

    tokenizer: PreTrainedTokenizerBase
    lm: PreTrainedModel | nn.Module
    """The language model (a peft model under LoRA)."""
    cache_key: str | None
    start_path: str | None
    """A folder ``from_pretrained`` loads the starting weights from (the warm-start cache entry, or the
    checkpoint itself without a warm start); None when there is none (a cache that could not be written)."""
    """The content key of the warm-start cache entry these weights came from (None if not cached);
    the pair cache keys on it."""

    @property
    def device(self) -> torch.device: ...

    def collate(
        self, frames: Sequence[FrameInput] | None, prompts: Sequence[str], responses: Sequence[str]
    ) -> Batch:
        """Padded rows of prompt + response; labels cover the response (and its EOS) only."""
        ...

    def __call__(
        self, frames: Tensor | None, input_ids: Tensor, attention_mask: Tensor, **vision: Tensor
    ) -> Tensor:
        """Logits ``[B, L, V]`` aligned with ``input_ids``; ``vision``: the batch's ``vision.*`` entries.
        Called through ``policy_logits``, never directly."""
        ...

    def generate(
        self,
        frames: Sequence[FrameInput] | Tensor | None,
        prompts: Sequence[str],
        *,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int | None = None,
        max_new_tokens: int = 48,
        contrastive_alpha: float = 0.0,
        generator: torch.Generator | None = None,
        batch_size: int = 64,
    ) -> list[str]: ...

    def frozen_start(self) -> AbstractContextManager[None] | None:
        """A context in which the policy computes what its starting weights did (LoRA adapters disabled,
        nothing else trained), so a reference needs no second copy; None when that is not so."""
        ...

    def restart_lora(self) -> None:
        """Under LoRA: merge the adapters into the weights and add fresh ones (after the warm start)."""
        ...

    def save(self, path: Path | str) -> None:
        """Everything needed to rebuild the policy (a warm-start cache entry); ``models.load_policy``."""
        ...

    def save_trained(self, path: Path | str) -> None:
        """What training changed, in the format its users load (``save_pretrained``)."""
        ...

    def language_model(self) -> PreTrainedModel:
        """The LM without a peft wrapper (adapters still inside): what lm-eval scores on text alone."""
        ...

    def to(self, device: torch.device) -> nn.Module: ...

    def eval(self) -> nn.Module: ...

    def train(self, mode: bool = True) -> nn.Module: ...


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """``model`` in eval mode (no dropout) for the block, then back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def policy_logits(model: Callable[..., Tensor], batch: Batch) -> Tensor:
    """The one way every caller runs a policy (or its accelerate wrapper) over a batch: through
    ``__call__``, so a distributed wrapper sees the forward."""
    vision = {
        key.removeprefix(VISION_PREFIX): value
        for key, value in batch.items()
        if key.startswith(VISION_PREFIX) and value is not None
    }
    return model(batch["frames"], batch["input_ids"], batch["attention_mask"], **vision)


def pair_rows(
    collate: Callable[[Sequence[FrameInput] | None, Sequence[str], Sequence[str]], Batch],
    pairs: Sequence[PreferencePair],
    frames: Mapping[str, np.ndarray],
) -> Batch:
    """One batch of a pair list: the chosen rows, then the rejected ones (what ``split_pairs`` expects);
    no frames for a text task (empty ``frames``)."""
    clip_frames = [frames[p.clip_id] for p in pairs] * 2 if frames else None
    return collate(
        clip_frames, [p.prompt for p in pairs] * 2, [p.chosen for p in pairs] + [p.rejected for p in pairs]
    )
