"""Policy construction: the tiny video-LM default or any local Hugging Face causal LM (+LoRA), and its
SFT warm start (cached by content)."""

from synpo_bench.models.tokenizer import train_tokenizer
from synpo_bench.models.video_lm import (
    ModelLoadError,
    TinyLMConfig,
    VideoLM,
    VisionConfig,
    build_model,
)
from synpo_bench.models.warmstart import WarmStartInfo, warm_start

__all__ = [
    "ModelLoadError",
    "TinyLMConfig",
    "VideoLM",
    "VisionConfig",
    "WarmStartInfo",
    "build_model",
    "train_tokenizer",
    "warm_start",
]
