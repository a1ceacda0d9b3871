"""Tiny random-init video-VLM checkpoints built offline, saved like real ones (``save_pretrained``).

The tests load them through ``--model PATH`` exactly as a user's Qwen2-VL, Qwen2.5-VL or LLaVA-OneVision
checkpoint would be loaded: ``AutoModelForImageTextToText`` + ``AutoProcessor``. Each family gets a small
byte-level BPE trained here on the embedded world's vocabulary, the family's own special tokens, a
ChatML template, tiny vision and text configs, and the family's image and video processors, set to read
the embedded world's 32 x 32 frames without upscaling them (so a clip is a handful of video tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "llava_onevision")

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'video' %}{{ VIDEO }}"
    "{% elif part['type'] == 'image' %}{{ IMAGE }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN_VISION = {
    "VIDEO": "<|vision_start|><|video_pad|><|vision_end|>",
    "IMAGE": "<|vision_start|><|image_pad|><|vision_end|>",
}
LLAVA_VISION = {"VIDEO": "<video>", "IMAGE": "<image>"}

WORDS = (
    "a red green blue yellow purple orange white black gray circle square triangle star moves left right up "
    "down the video shows camera pans zooms in out static background striped checkered dotted and then "
    "describe this clip in detail briefly what happens user assistant system question answer yes no"
)


def _template(tokens: dict[str, str]) -> str:
    template = CHATML
    for name, text in tokens.items():
        template = template.replace("{{ " + name + " }}", text)
    return template


def _tokenizer(specials: list[str], vision: dict[str, str], extra: dict[str, str]) -> PreTrainedTokenizerFast:
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator([WORDS, WORDS.upper(), WORDS.capitalize() + "."] * 10, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", extra_special_tokens=extra
    )
    tokenizer.chat_template = _template(vision)
    return tokenizer


TEXT_SIZE = {"hidden_size": 64, "num_hidden_layers": 2}
"""The language model's width and depth (benchmarks/bench_vlm.py builds bigger ones)."""


def _text_config(tokenizer: PreTrainedTokenizerFast, **extra: object) -> dict[str, object]:
    hidden = int(TEXT_SIZE["hidden_size"])
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=TEXT_SIZE["num_hidden_layers"],
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        **extra,
    )


def _qwen(folder: Path, version: str) -> None:
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>"]
    specials += ["<|image_pad|>", "<|video_pad|>"]
    extra = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"}
    tokenizer = _tokenizer(specials, QWEN_VISION, extra)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in specials}
    # mrope_section (time, height, width) sums to head_dim / 2 = (hidden / 4 heads) / 2.
    hidden = int(TEXT_SIZE["hidden_size"])
    half = hidden // 8
    sections = [half // 4, 3 * half // 8, half - half // 4 - 3 * half // 8]
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": sections}
    text = _text_config(tokenizer, rope_parameters=rope)
    tokens = dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    patches = dict(patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
    if version == "2":
        vision = dict(depth=2, embed_dim=32, hidden_size=hidden, num_heads=2, mlp_ratio=2, **patches)
        config, model_class, processor_class = (
            Qwen2VLConfig,
            Qwen2VLForConditionalGeneration,
            Qwen2VLProcessor,
        )
    else:
        vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=hidden)
        vision.update(window_size=112, fullatt_block_indexes=[1], **patches)
        config = Qwen2_5_VLConfig
        model_class, processor_class = Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
    model = model_class(config(text_config=text, vision_config=vision, **tokens))
    # A 32 x 32 frame becomes one 28 x 28 patch grid (4 patches, 1 token per 2 frames after merging).
    size = {"shortest_edge": 28 * 28, "longest_edge": 56 * 56}
    processor = processor_class(
        image_processor=Qwen2VLImageProcessor(size=size),
        video_processor=Qwen2VLVideoProcessor(size=size),
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def _llava_onevision(folder: Path) -> None:
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
        Qwen2Config,
        SiglipVisionConfig,
    )

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
    extra = {"image_token": "<image>", "video_token": "<video>"}
    tokenizer = _tokenizer(specials, LLAVA_VISION, extra)
    image_size, patch = 56, 14
    config = LlavaOnevisionConfig(
        vision_config=SiglipVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch,
        ),
        text_config=Qwen2Config(**_text_config(tokenizer)),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=[[image_size, image_size]],
    )
    model = LlavaOnevisionForConditionalGeneration(config)
    size = {"height": image_size, "width": image_size}
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(
            size=size, image_grid_pinpoints=[[image_size, image_size]]
        ),
        video_processor=LlavaOnevisionVideoProcessor(size=size),
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
        num_image_tokens=(image_size // patch) ** 2,
        vision_feature_select_strategy="full",
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "qwen2_vl": lambda folder: _qwen(folder, "2"),
    "qwen2_5_vl": lambda folder: _qwen(folder, "2.5"),
    "llava_onevision": _llava_onevision,
}


def build_tiny_vlm(family: str, folder: Path, seed: int = 0, hidden: int = 64, layers: int = 2) -> Path:
    """Save a tiny random-init ``family`` checkpoint (weights a function of ``seed``) into ``folder``;
    ``hidden`` and ``layers`` size its language model."""
    folder.mkdir(parents=True, exist_ok=True)
    TEXT_SIZE.update(hidden_size=hidden, num_hidden_layers=layers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        BUILDERS[family](folder)
    return folder
