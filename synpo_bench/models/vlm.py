"""A vision-language checkpoint as the policy: its own vision tower, projector, processor and chat template.

    frames uint8 [T, H, W, 3] + prompt --processor (videos=, chat template)--> input_ids with video tokens
                                                                           + pixel values, grids, ...
    [prompt ids (video tokens inside) ; response EOS] --AutoModelForImageTextToText--> logits

Any family ``AutoModelForImageTextToText`` loads with a video processor works the same way (tested:
Qwen2-VL, Qwen2.5-VL, LLaVA-OneVision). ``VisionLanguagePolicy`` implements ``synpo_bench.api.models.Policy``;
the processor's vision inputs travel in the batch under ``vision.<name>`` (``api.models.VISION_PREFIX``).
What trains: the language model (or LoRA adapters on its linear layers); the vision tower never; the
projector with ``train_projector``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn
from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedModel, ProcessorMixin

from synpo_bench.api.errors import UserError
from synpo_bench.api.models import VISION_PREFIX, Batch, FrameInput, evaluating
from synpo_bench.api.stats import IGNORE_INDEX
from synpo_bench.models.lm import ModelLoadError, peft_lora, require_id, unwrap_lora
from synpo_bench.models.vlm_generation import generate_captions

SAVE_FORMAT = 1
CONFIG_FILE = "vlm.json"
PROJECTOR_NAMES = ("multi_modal_projector", "merger", "mm_projector", "connector")
"""Attribute names families give the module between the vision tower and the LM (LLaVA*, InternVL: the
first; Qwen2-VL / 2.5-VL: ``visual.merger``; SmolVLM / Idefics3: ``connector``)."""


class ContextTooLongError(ValueError, UserError):
    """Prompt, video tokens and response do not fit the language model's positions."""


class VisionLanguagePolicy(nn.Module):
    """See the module docstring."""

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        *,
        source: str | None = None,
        lora: bool = False,
        train_projector: bool = False,
    ) -> None:
        super().__init__()
        self.lm = model
        self.processor = processor
        self.tokenizer = processor.tokenizer  # type: ignore[attr-defined]
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.source = source
        self.lora = False
        self.train_projector = train_projector
        self.cache_key: str | None = None
        self.start_path: str | None = None
        _freeze_vision(model, train_projector)
        if lora:
            self.enable_lora()

    # ------------------------------------------------------------------------------------------ basics

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def eos_id(self) -> int:
        """The end of the assistant's turn: what a response's labels end with and generation stops at."""
        return require_id(self.tokenizer.eos_token_id, "eos")

    def language_model(self) -> PreTrainedModel:
        """The whole checkpoint without a peft wrapper: its forward on text alone is the LM's."""
        return cast(PreTrainedModel, unwrap_lora(self.lm))

    def frozen_start(self) -> AbstractContextManager[None] | None:
        """With LoRA (and the vision side frozen) the start is the same weights with adapters disabled."""
        return self.lm.disable_adapter() if self.lora else None

    def prompt_text(self, prompt: str, *, video: bool) -> str:
        """The chat template's user turn (the video, then the prompt) and the opening of the assistant's."""
        content: list[dict[str, str]] = [{"type": "video"}] if video else []
        content.append({"type": "text", "text": prompt})
        return str(
            self.processor.apply_chat_template(
                [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
            )
        )

    def encode(self, frames: Sequence[FrameInput] | None, prompts: Sequence[str]) -> dict[str, Tensor]:
        """The processor's output for chat-formatted prompts (and their clips): ids, mask, vision inputs."""
        if frames is not None and len(frames) != len(prompts):
            raise ValueError(f"need one clip per prompt, got {len(frames)} clips for {len(prompts)} prompts")
        texts = [self.prompt_text(p, video=frames is not None) for p in prompts]
        videos = None if frames is None else [np.array(clip) for clip in frames]  # writable copies
        try:
            encoded = self.processor(text=texts, videos=videos, padding=True, return_tensors="pt")
        except (ValueError, TypeError, RuntimeError) as error:
            shape = list(np.asarray(frames[0]).shape) if frames else None
            raise ModelLoadError(
                f"--model {self.source}: its processor rejects the clips (frames {shape}, "
                f"n_frames x height x width x 3): {type(error).__name__}: {error}"
            ) from None
        return dict(encoded)

    # ----------------------------------------------------------------------------------------- training

    def collate(
        self, frames: Sequence[FrameInput] | None, prompts: Sequence[str], responses: Sequence[str]
    ) -> Batch:
        """Right-padded rows of chat prompt (video tokens inside) + response + EOS; only the response and
        its EOS are labelled. The processor's per-row vision inputs go under ``vision.<name>``."""
        if len(prompts) != len(responses):
            raise ValueError(f"collate needs one response per prompt, got {len(responses)} / {len(prompts)}")
        encoded = self.encode(frames, prompts)
        mask = encoded.pop("attention_mask").bool()
        prompt_rows = [row[keep].tolist() for row, keep in zip(encoded.pop("input_ids"), mask, strict=True)]
        per_token = {k: v for k, v in encoded.items() if v.dim() >= 2 and v.shape[:2] == mask.shape}
        responses_ids = [[*self._text_ids(r), self.eos_id] for r in responses]
        length = max(len(p) + len(r) for p, r in zip(prompt_rows, responses_ids, strict=True))
        self.check_length(length)
        pad = require_id(self.tokenizer.pad_token_id, "pad")
        input_ids = torch.full((len(prompts), length), pad, dtype=torch.long)
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        attention = torch.zeros_like(input_ids)
        for index, (prompt_ids, response_ids) in enumerate(zip(prompt_rows, responses_ids, strict=True)):
            end = len(prompt_ids) + len(response_ids)
            input_ids[index, :end] = torch.tensor(prompt_ids + response_ids)
            labels[index, len(prompt_ids) : end] = torch.tensor(response_ids)
            attention[index, :end] = 1
        batch: Batch = {"frames": None, "input_ids": input_ids, "attention_mask": attention, "labels": labels}
        for name, value in encoded.items():
            if name in per_token:  # e.g. token type ids marking the video tokens: realigned, 0 after
                value = _realigned(value, mask, length)
            batch[VISION_PREFIX + name] = value
        return batch

    def _text_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def check_length(self, tokens: int) -> None:
        limit = getattr(self.lm.config.get_text_config(), "max_position_embeddings", None)
        if limit is not None and tokens > limit:
            raise ContextTooLongError(
                f"--model {self.source}: prompt + video tokens + response take {tokens} tokens, more than "
                f"the model's {limit} positions; use fewer frames (--frames) or shorter captions"
            )

    def forward(
        self, frames: Tensor | None, input_ids: Tensor, attention_mask: Tensor, **vision: Tensor
    ) -> Tensor:
        """Logits ``[B, L, V]`` aligned with ``input_ids``; ``vision`` holds the processor's inputs
        (``frames`` is unused: the clips are already in them)."""
        inputs = self.on_device({"input_ids": input_ids, "attention_mask": attention_mask, **vision})
        return self.lm(**inputs, use_cache=False).logits

    def on_device(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Model inputs on the policy's device; floating ones (pixel values) in the weights' dtype."""
        dtype = self.lm.get_input_embeddings().weight.dtype
        return {
            name: value.to(self.device, dtype=dtype if value.is_floating_point() else None)
            for name, value in inputs.items()
        }

    # --------------------------------------------------------------------------------------- generation

    @torch.no_grad()
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
    ) -> list[str]:
        """Captions with the checkpoint's own ``generate()``: greedy, sampled, or visual-contrastive
        (``contrastive_alpha``; see vlm_generation.py)."""
        clips = None if frames is None else [np.asarray(clip) for clip in frames]
        with evaluating(self):
            return generate_captions(
                self,
                clips,
                list(prompts),
                do_sample=do_sample,
                temperature=temperature,
                top_k=top_k,
                max_new_tokens=max_new_tokens,
                contrastive_alpha=contrastive_alpha,
                generator=generator,
                batch_size=batch_size,
            )

    # -------------------------------------------------------------------------------------- persistence

    def save(self, path: Path | str) -> None:
        """The checkpoint (adapters merged) and its processor via ``save_pretrained``, plus ``vlm.json``:
        what ``AutoModelForImageTextToText`` / ``AutoProcessor`` load, and ``load`` restores."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with self._merged() as model:
            model.save_pretrained(str(path))
        self.processor.save_pretrained(str(path))
        config = {"format": SAVE_FORMAT, "source": self.source, "lora": self.lora}
        config["train_projector"] = self.train_projector
        (path / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")

    def save_trained(self, path: Path | str) -> None:
        """The trained part for a user: LoRA adapters (peft) whose ``base_model_name_or_path`` is the
        folder of the starting weights (``start_path``), or, without LoRA or such a folder, the whole
        checkpoint; the processor beside either."""
        path = Path(path)
        if self.lora and self.start_path is not None:
            for config in self.lm.peft_config.values():
                config.base_model_name_or_path = self.start_path
            self.lm.save_pretrained(str(path))
            self.processor.save_pretrained(str(path))
        else:
            self.save(path)

    @contextmanager
    def _merged(self) -> Iterator[PreTrainedModel]:
        if not self.lora:
            yield self.lm
            return
        import copy

        yield copy.deepcopy(self.lm).merge_and_unload()

    @classmethod
    def load(
        cls, path: Path | str, *, lora: bool | None = None, train_projector: bool | None = None
    ) -> VisionLanguagePolicy:
        path = Path(path)
        config_file = path / CONFIG_FILE
        if not config_file.is_file():
            raise ModelLoadError(f"{path} is not a saved vision-language policy (no {CONFIG_FILE})")
        config = json.loads(config_file.read_text())
        if config.get("format") != SAVE_FORMAT:
            raise ModelLoadError(f"{path}: saved in format {config.get('format')}, expected {SAVE_FORMAT}")
        model = AutoModelForImageTextToText.from_pretrained(str(path), local_files_only=True)
        processor = AutoProcessor.from_pretrained(str(path), local_files_only=True)
        return cls(
            model,
            processor,
            source=config.get("source"),
            lora=config["lora"] if lora is None else lora,
            train_projector=config["train_projector"] if train_projector is None else train_projector,
        )

    def enable_lora(self, *, rank: int = 8, alpha: int = 16) -> None:
        """peft LoRA on the language model's linear layers; with ``train_projector`` the projector trains
        in full beside them (peft ``modules_to_save``, so disabling the adapters restores it too)."""
        if self.lora:
            return
        decoder = self.lm.get_decoder()
        in_decoder = {id(module) for module in decoder.modules()}
        targets = [
            name
            for name, module in self.lm.named_modules()
            if isinstance(module, nn.Linear) and id(module) in in_decoder
        ]
        projector = _projector_names(self.lm) if self.train_projector else []
        self.lm = peft_lora(self.lm, targets, modules_to_save=projector, rank=rank, alpha=alpha)
        self.lora = True

    def restart_lora(self) -> None:
        """Merge the trained adapters (and projector) into the weights and add fresh adapters: the
        start that disabling them gives back (``frozen_start``), as a reload of ``save`` would be."""
        if self.lora:
            self.lm = self.lm.merge_and_unload()
            self.lora = False
            _freeze_vision(self.lm, self.train_projector)
            self.enable_lora()


def _realigned(value: Tensor, mask: Tensor, length: int) -> Tensor:
    """A per-token tensor of the processor's padded prompt rows, re-laid onto right-padded full rows."""
    out = value.new_zeros((value.shape[0], length, *value.shape[2:]))
    for index, keep in enumerate(mask):
        kept = value[index][keep]
        out[index, : kept.shape[0]] = kept
    return out


def _projector_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name.rsplit(".", 1)[-1] in PROJECTOR_NAMES]


def _freeze_vision(model: PreTrainedModel, train_projector: bool) -> None:
    """Train the language model (and its output head); freeze everything else, the projector excepted
    when asked. Found by the modules the checkpoint calls its decoder, not by family-specific names."""
    trainable = {id(p) for p in model.get_decoder().parameters()}
    head = model.get_output_embeddings()
    if head is not None:
        trainable |= {id(p) for p in head.parameters()}
    if train_projector:
        for name in _projector_names(model):
            trainable |= {id(p) for p in model.get_submodule(name).parameters()}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in trainable)


def load_checkpoint(source: str, local_only: bool) -> tuple[PreTrainedModel, ProcessorMixin]:
    """``AutoModelForImageTextToText`` + ``AutoProcessor``, with the checks a policy needs of them."""
    model: Any = AutoModelForImageTextToText.from_pretrained(source, local_files_only=local_only)
    try:
        processor = AutoProcessor.from_pretrained(source, local_files_only=local_only)
    except (OSError, ValueError) as error:
        raise ModelLoadError(
            f"--model {source}: a vision-language checkpoint without a loadable processor "
            f"({type(error).__name__}: {str(error).splitlines()[0]}); save its processor with "
            "processor.save_pretrained into the same folder"
        ) from None
    if getattr(processor, "tokenizer", None) is None or getattr(processor, "video_processor", None) is None:
        raise ModelLoadError(
            f"--model {source}: its processor has no tokenizer or no video processor; synpo-bench feeds "
            "clips through the processor's video path (videos=)"
        )
    if not getattr(processor, "chat_template", None):
        raise ModelLoadError(
            f"--model {source}: the processor has no chat template (chat_template.jinja); synpo-bench "
            "builds every prompt with it"
        )
    return model, processor
