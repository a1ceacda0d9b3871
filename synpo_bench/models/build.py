"""Building a fresh policy: the tiny default (its tokenizer trained on the task's texts) or a checkpoint."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from synpo_bench.models.lm import TinyLMConfig, ensure_special_tokens, load_pretrained_lm, tiny_lm
from synpo_bench.models.tokenizer import train_tokenizer
from synpo_bench.models.video_lm import VideoLM
from synpo_bench.models.vision import VisionConfig


def build_model(
    model: str | None = None,
    *,
    seed: int = 0,
    frame_shape: tuple[int, int, int, int] = (8, 32, 32, 3),
    texts: Sequence[str] | None = None,
    lora: bool = False,
    tiny: TinyLMConfig | None = None,
) -> VideoLM:
    """The policy: ``model=None`` is the tiny default (tokenizer trained on ``texts``), a string a checkpoint.

    Weights of new parts (the tiny LM, the encoder, the projector) are a pure function of ``seed``; the
    global RNG is left as it was.
    """
    frame_shape = tuple(int(v) for v in frame_shape)  # type: ignore[assignment]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if model is None:
            if not texts:
                raise ValueError("the tiny default model trains its tokenizer on texts: give the references")
            tokenizer = train_tokenizer(texts)
            lm = tiny_lm(len(tokenizer), tokenizer, tiny or TinyLMConfig())
        else:
            lm, tokenizer = load_pretrained_lm(model)
            ensure_special_tokens(tokenizer)
            if len(tokenizer) > lm.get_input_embeddings().num_embeddings:
                lm.resize_token_embeddings(len(tokenizer))
        vision = VisionConfig(frame_shape=frame_shape, hidden_size=lm.config.hidden_size)  # type: ignore[arg-type]
        video_lm = VideoLM(lm, tokenizer, vision, source=model)
    if lora:
        video_lm.enable_lora()
    return video_lm
