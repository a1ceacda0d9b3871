"""Building a fresh policy: the tiny default (its tokenizer trained on the task's texts) or a checkpoint.

A checkpoint whose configuration transformers maps to ``AutoModelForImageTextToText`` (Qwen2-VL,
Qwen2.5-VL, LLaVA-OneVision, ...) becomes a ``VisionLanguagePolicy`` with its own vision tower and
processor; any other checkpoint is a causal LM that gets the project's frame encoder (``VideoLM``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoConfig
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

from synpo_bench.api.models import Policy
from synpo_bench.models.lm import (
    ModelLoadError,
    TinyLMConfig,
    checkpoint_source,
    ensure_special_tokens,
    load_pretrained_lm,
    tiny_lm,
)
from synpo_bench.models.tokenizer import train_tokenizer
from synpo_bench.models.video_lm import VideoLM
from synpo_bench.models.vision import VisionConfig
from synpo_bench.models.vlm import CONFIG_FILE, VisionLanguagePolicy, load_checkpoint


def is_vision_language(model: str) -> bool:
    """Whether ``--model`` names a checkpoint transformers loads as an image/video-text-to-text model."""
    source, local_only = checkpoint_source(model)
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=local_only)
    except (OSError, ValueError):
        return False  # loading it as a causal LM then says what is wrong with it
    return config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def build_model(
    model: str | None = None,
    *,
    seed: int = 0,
    frame_shape: tuple[int, int, int, int] = (8, 32, 32, 3),
    texts: Sequence[str] | None = None,
    lora: bool = False,
    train_projector: bool = False,
    tiny: TinyLMConfig | None = None,
) -> Policy:
    """The policy: ``model=None`` is the tiny default (tokenizer trained on ``texts``), a string a checkpoint.

    Weights of new parts (the tiny LM, the encoder, the projector) are a pure function of ``seed``; the
    global RNG is left as it was.
    """
    if model is not None and is_vision_language(model):
        source, local_only = checkpoint_source(model)
        checkpoint, processor = load_checkpoint(source, local_only)
        return VisionLanguagePolicy(
            checkpoint, processor, source=model, lora=lora, train_projector=train_projector
        )
    if train_projector:
        raise ModelLoadError(
            "--train-projector applies to a vision-language --model; the embedded video-LM and a causal "
            "LM's frame encoder and projector always train"
        )
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


def load_policy(path: Path, *, lora: bool) -> Policy:
    """A policy saved by its ``save`` (a warm-start cache entry), of whichever kind it is."""
    if (path / CONFIG_FILE).is_file():
        return VisionLanguagePolicy.load(path, lora=lora)
    return VideoLM.load(path, lora=lora)
