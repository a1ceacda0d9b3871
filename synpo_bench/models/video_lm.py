"""The policy: a small frame encoder whose tokens are prepended to a causal LM's input embeddings.

    frames uint8 [B, T, H, W, 3] -> FrameEncoder -> Projector -> [B, n_tokens, hidden]   (vision.py)
    [frame tokens ; BOS prompt response EOS] -> causal LM (``inputs_embeds``) -> logits of the text positions

``VideoLM`` implements ``synpo_bench.api.models.Policy``: it collates rows, runs the forward pass, decodes
captions (generation.py), and saves / loads itself. The LM and how it is called live in lm.py.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from synpo_bench.api.models import Batch, FrameInput, evaluating
from synpo_bench.api.stats import IGNORE_INDEX
from synpo_bench.models.generation import Decoding, check_decoding, generate_batch
from synpo_bench.models.lm import (
    ModelLoadError,
    apply_lora,
    ensure_special_tokens,
    keeps_logits,
    positions_from_mask,
    require_id,
    unwrap_lora,
)
from synpo_bench.models.vision import FrameEncoder, Projector, VisionConfig

SAVE_FORMAT = 1


class VideoLM(nn.Module):
    """Frame encoder + projector + causal LM; see the module docstring for the layout."""

    def __init__(
        self,
        lm: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        vision: VisionConfig,
        *,
        source: str | None = None,
        lora: bool = False,
    ) -> None:
        super().__init__()
        if vision.hidden_size != lm.config.hidden_size:
            raise ValueError(
                f"vision hidden size {vision.hidden_size} != LM hidden size {lm.config.hidden_size}"
            )
        ensure_special_tokens(tokenizer)
        self.lm = lm
        self.tokenizer = tokenizer
        self.vision_config = vision
        self.source = source
        self.lora = lora
        self.encoder = FrameEncoder(vision)
        self.projector = Projector(vision.width, vision.hidden_size)
        self.keeps_logits = keeps_logits(lm)
        self.cache_key: str | None = None
        self.start_path: str | None = None
        """The warm-start cache key of these weights, when they came from one (names them in other caches)."""

    # ------------------------------------------------------------------------------------------ basics

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def language_model(self) -> PreTrainedModel:
        """The LM without its peft wrapper (the adapters stay injected): the model lm-eval scores."""
        return cast(PreTrainedModel, unwrap_lora(self.lm))

    def frozen_start(self) -> None:
        """Never: the frame encoder and projector train in full even under LoRA, so disabling the
        adapters does not give the start back (a reference needs a copy)."""
        return None

    def save_trained(self, path: Path | str) -> None:
        """The whole policy (``save``): the frame encoder is new, so there is no base to add adapters to."""
        self.save(path)

    @property
    def n_frame_tokens(self) -> int:
        return self.vision_config.n_tokens

    def frames_tensor(self, frames: Sequence[FrameInput] | Tensor) -> Tensor:
        """A uint8 ``[B, T, H, W, 3]`` tensor from a list of clips (or a batched tensor), shape-checked."""
        if isinstance(frames, Tensor):
            batch = frames
        else:
            batch = torch.from_numpy(np.stack([np.asarray(clip) for clip in frames]))  # a writable copy
        if tuple(batch.shape[1:]) != tuple(self.vision_config.frame_shape):
            raise ValueError(
                f"frames of shape {list(batch.shape[1:])} given to a model built for "
                f"{list(self.vision_config.frame_shape)} (n_frames, height, width, 3)"
            )
        return batch

    def embed_frames(self, frames: Tensor) -> Tensor:
        dtype = self.lm.get_input_embeddings().weight.dtype
        return self.projector(self.encoder(frames.to(self.device))).to(dtype)

    def _text_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, prompt: str) -> list[int]:
        """``[BOS] prompt`` token ids (no BOS when the tokenizer has none)."""
        bos = self.tokenizer.bos_token_id
        return ([bos] if bos is not None else []) + self._text_ids(prompt)

    def check_length(self, text_tokens: int) -> None:
        """Raise when the frame tokens and ``text_tokens`` do not fit the LM's positions."""
        config = self.lm.config
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        if limit is not None and self.n_frame_tokens + text_tokens > limit:
            raise ValueError(
                f"{self.n_frame_tokens} frame tokens + {text_tokens} text tokens exceed the LM's "
                f"{limit} positions; shorten the texts or max_new_tokens"
            )

    # ----------------------------------------------------------------------------------------- training

    def collate(
        self, frames: Sequence[FrameInput] | None, prompts: Sequence[str], responses: Sequence[str]
    ) -> Batch:
        """Right-padded ``[BOS] prompt response EOS`` rows; only the response and its EOS are labelled.

        ``frames=None``: text-only rows (``"frames"`` is None, the LM reads the text alone).
        """
        if frames is None:
            frames_tensor = None
        elif not len(frames) == len(prompts) == len(responses):
            raise ValueError(
                f"collate needs as many clips as prompts and responses, got "
                f"{len(frames)} / {len(prompts)} / {len(responses)}"
            )
        else:
            frames_tensor = self.frames_tensor(frames)
        eos = require_id(self.tokenizer.eos_token_id, "eos")
        rows, label_rows = [], []
        for prompt, response in zip(prompts, responses, strict=True):
            prompt_ids = self.prompt_ids(prompt)
            response_ids = [*self._text_ids(response), eos]
            rows.append(prompt_ids + response_ids)
            label_rows.append([IGNORE_INDEX] * len(prompt_ids) + response_ids)
        length = max(map(len, rows))
        self.check_length(length)
        pad = require_id(self.tokenizer.pad_token_id, "pad")
        input_ids = torch.full((len(rows), length), pad, dtype=torch.long)
        labels = torch.full((len(rows), length), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
        for index, (row, label_row) in enumerate(zip(rows, label_rows, strict=True)):
            input_ids[index, : len(row)] = torch.tensor(row)
            labels[index, : len(row)] = torch.tensor(label_row)
            attention_mask[index, : len(row)] = 1
        return {
            "frames": frames_tensor,
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
        }

    def forward(self, frames: Tensor | None, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Logits ``[B, L, V]`` of the text positions (frame positions dropped), aligned with ``input_ids``.

        ``frames=None`` runs the LM on the text alone.
        """
        embeds, mask = self.prefixed_inputs(frames, input_ids.to(self.device), attention_mask.to(self.device))
        extra = {"logits_to_keep": input_ids.shape[1]} if self.keeps_logits else {}
        out = self.lm(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=positions_from_mask(mask),
            use_cache=False,
            **extra,
        )
        return out.logits[:, -input_ids.shape[1] :, :]

    def prefixed_inputs(
        self, frames: Tensor | None, input_ids: Tensor, attention_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Input embeddings and attention mask with the frame tokens (if any) in front of the text."""
        text = self.lm.get_input_embeddings()(input_ids)
        if frames is None:
            return text, attention_mask
        visual = self.embed_frames(self.frames_tensor(frames))
        ones = attention_mask.new_ones((attention_mask.shape[0], visual.shape[1]))
        return torch.cat([visual, text], dim=1), torch.cat([ones, attention_mask], dim=1)

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
        """Captions for (clip, prompt) pairs: greedy, or sampled with ``temperature`` / ``top_k``.

        ``contrastive_alpha = a > 0`` is visual contrastive decoding: each step uses
        ``(1 + a) * logits(with frames) - a * logits(without frames)``, penalising what the LM would say
        without looking. Sampling is deterministic for a given ``generator`` state and batching.
        """
        check_decoding(
            None if frames is None else len(frames), len(prompts), do_sample, temperature, contrastive_alpha
        )
        captions: list[str] = []
        with evaluating(self):
            for start in range(0, len(prompts), batch_size):
                captions += generate_batch(
                    self,
                    None if frames is None else self.frames_tensor(frames[start : start + batch_size]),
                    list(prompts[start : start + batch_size]),
                    Decoding(do_sample, temperature, top_k, max_new_tokens, contrastive_alpha, generator),
                )
        return captions

    # -------------------------------------------------------------------------------------- persistence

    def save(self, path: Path | str) -> None:
        """``lm/`` and ``tokenizer/`` via ``save_pretrained``, ``vision.pt``, and ``videolm.json``.

        A LoRA model is saved with its adapters merged into the LM; ``load`` wraps it with fresh adapters.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        lm = self.lm
        if self.lora:
            lm = copy.deepcopy(lm).merge_and_unload()
        lm.save_pretrained(str(path / "lm"))
        self.tokenizer.save_pretrained(str(path / "tokenizer"))
        state = {"encoder": self.encoder.state_dict(), "projector": self.projector.state_dict()}
        torch.save(state, path / "vision.pt")
        config = {
            "format": SAVE_FORMAT,
            "vision": dataclasses.asdict(self.vision_config),
            "source": self.source,
            "lora": self.lora,
        }
        (path / "videolm.json").write_text(json.dumps(config, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path | str, *, lora: bool | None = None) -> VideoLM:
        """A model saved by ``save``; ``lora`` overrides whether fresh LoRA adapters are added."""
        path = Path(path)
        config_file = path / "videolm.json"
        if not config_file.is_file():
            raise ModelLoadError(f"{path} is not a saved VideoLM (no videolm.json)")
        config = json.loads(config_file.read_text())
        if config.get("format") != SAVE_FORMAT:
            raise ModelLoadError(f"{path}: saved in format {config.get('format')}, expected {SAVE_FORMAT}")
        vision = config["vision"]
        vision_config = VisionConfig(**{**vision, "frame_shape": tuple(vision["frame_shape"])})
        lm = AutoModelForCausalLM.from_pretrained(str(path / "lm"), local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(path / "tokenizer"), local_files_only=True)
        use_lora = config["lora"] if lora is None else lora
        model = cls(lm, tokenizer, vision_config, source=config.get("source"), lora=False)
        state = torch.load(path / "vision.pt", map_location="cpu", weights_only=True)
        model.encoder.load_state_dict(state["encoder"])
        model.projector.load_state_dict(state["projector"])
        if use_lora:
            model.enable_lora()
        return model

    def enable_lora(self, *, rank: int = 8, alpha: int = 16) -> None:
        """Wrap the LM with peft LoRA adapters; the frame encoder and projector stay fully trainable."""
        if self.lora:
            return
        self.lm = apply_lora(self.lm, rank=rank, alpha=alpha)
        self.lora = True

    def restart_lora(self) -> None:
        """Merge the trained adapters into the LM and add fresh ones (what a reload of ``save`` gives)."""
        if self.lora:
            self.lm = self.lm.merge_and_unload()
            self.lora = False
            self.enable_lora()
