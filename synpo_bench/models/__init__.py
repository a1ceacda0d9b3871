"""Policy construction: the tiny video-LM default, a local causal LM with a frame encoder added, or a
vision-language checkpoint with its own vision tower and processor (+LoRA), and the SFT warm start
(cached by content).

    vision.py           frame encoder and projector (frames -> LM-width tokens) of the video-LM
    lm.py               the causal LM: tiny default, local checkpoints, LoRA, how it is called
    video_lm.py         VideoLM, the policy (collate, forward, generate, save / load)
    generation.py       its decoding loop (greedy, sampled, visual contrastive)
    vlm.py              VisionLanguagePolicy: a Qwen2-VL / LLaVA-OneVision / ... checkpoint as the policy
    vlm_generation.py   its decoding, through the checkpoint's own generate()
    build.py            build_model: a fresh policy from a seed or a checkpoint; load_policy
    tokenizer.py        the tiny default's BPE tokenizer
    sft.py              supervised fine-tuning (the warm start's loop)
    warmstart.py        the cached SFT every loss starts from
"""

from synpo_bench.models.build import build_model, is_vision_language, load_policy
from synpo_bench.models.lm import ModelLoadError, TinyLMConfig
from synpo_bench.models.tokenizer import train_tokenizer
from synpo_bench.models.video_lm import VideoLM
from synpo_bench.models.vision import VisionConfig
from synpo_bench.models.vlm import VisionLanguagePolicy
from synpo_bench.models.warmstart import WarmStartInfo, warm_start

__all__ = [
    "ModelLoadError",
    "TinyLMConfig",
    "VideoLM",
    "VisionConfig",
    "VisionLanguagePolicy",
    "WarmStartInfo",
    "build_model",
    "is_vision_language",
    "load_policy",
    "train_tokenizer",
    "warm_start",
]
