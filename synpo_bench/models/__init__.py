"""Policy construction: the tiny video-LM default or any local Hugging Face causal LM (+LoRA), and its
SFT warm start (cached by content).

    vision.py      frame encoder and projector (frames -> LM-width tokens)
    lm.py          the causal LM: tiny default, local checkpoints, LoRA, how it is called
    video_lm.py    VideoLM, the policy (collate, forward, generate, save / load)
    generation.py  the decoding loop (greedy, sampled, visual contrastive)
    build.py       build_model: a fresh policy from a seed
    tokenizer.py   the tiny default's BPE tokenizer
    warmstart.py   the cached SFT every loss starts from
"""

from synpo_bench.models.build import build_model
from synpo_bench.models.lm import ModelLoadError, TinyLMConfig
from synpo_bench.models.tokenizer import train_tokenizer
from synpo_bench.models.video_lm import VideoLM
from synpo_bench.models.vision import VisionConfig
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
