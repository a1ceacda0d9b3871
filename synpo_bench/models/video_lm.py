"""The policy: a small frame encoder whose tokens are prepended to a causal LM's input embeddings.

    frames uint8 [B, T, H, W, 3] -> conv stem per frame -> grid x grid region tokens per frame
        -> + frame / region embeddings -> MLP projector -> [B, T*grid*grid, hidden]
    [frame tokens ; BOS prompt response EOS] -> causal LM (``inputs_embeds``) -> logits of the text positions

The LM is any ``AutoModelForCausalLM`` (by default a tiny random-init Llama with a locally trained tokenizer),
optionally wrapped with peft LoRA; the encoder and projector are always fully trained. Positions come from
the attention mask (``cumsum - 1``), so left-padded generation and right-padded training see the same
positions for the same tokens.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerBase
from transformers.modeling_outputs import CausalLMOutputWithPast

from synpo_bench.api.errors import UserError
from synpo_bench.api.stats import IGNORE_INDEX
from synpo_bench.models.tokenizer import train_tokenizer

FrameInput = np.ndarray | Tensor
"""One clip: uint8 ``[T, H, W, 3]``."""

SAVE_FORMAT = 1

# transformers 5 renamed the key/value cache argument and output field from ``past_key_values`` to ``cache``.
_CACHE_NAME = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


class ModelLoadError(ValueError, UserError):
    """A model name or path that cannot be loaded (missing, offline, or not a causal LM)."""


@dataclass(frozen=True)
class VisionConfig:
    """Shape of the frame encoder; ``hidden_size`` is the LM's embedding width."""

    frame_shape: tuple[int, int, int, int] = (8, 32, 32, 3)
    hidden_size: int = 128
    stem_patch: int = 4
    """The stem's total stride (two stride-2 convolutions): frames become (H/4) x (W/4) feature maps."""
    stem_channels: int = 32
    grid: int = 4
    """Each token reads one of grid x grid regions of the feature map."""
    tubelet: int = 8
    """Consecutive frames one token reads (ViViT's tubelets); 1 gives per-frame tokens."""
    width: int = 128

    @property
    def n_frames(self) -> int:
        return self.frame_shape[0]

    @property
    def n_segments(self) -> int:
        return self.n_frames // self.tubelet

    @property
    def tokens_per_segment(self) -> int:
        return self.grid * self.grid

    @property
    def n_tokens(self) -> int:
        return self.n_segments * self.tokens_per_segment

    def validate(self) -> None:
        n_frames, height, width, channels = self.frame_shape
        cells = self.stem_patch * self.grid
        if channels != 3 or height % cells or width % cells:
            raise ValueError(
                f"frame shape {self.frame_shape}: need RGB frames whose height and width are multiples "
                f"of stem_patch * grid = {cells}"
            )
        if self.tubelet < 1 or n_frames % self.tubelet:
            raise ValueError(
                f"frame shape {self.frame_shape}: {n_frames} frames do not split into "
                f"tubelets of {self.tubelet}"
            )


@dataclass(frozen=True)
class TinyLMConfig:
    """The default LM: a small Llama trained from scratch."""

    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    max_position_embeddings: int = 512


class FrameEncoder(nn.Module):
    """A conv stem over each frame, a temporal convolution over tubelets of frames, then region tokens.

        per frame: conv 2x2/2 -> conv 3x3/2                     [B*T, C, H/4, W/4]
        per tubelet of ``tubelet`` frames: conv3d (tubelet, 3, 3) [B, C, S, H/4, W/4]   (S = T / tubelet)
        conv 3x3, then one token per (segment, region of the grid) -> [B, S * grid * grid, width]

    Motion lives in the temporal convolution, whose weights are shared across positions: with a few
    hundred clips, position-specific motion detectors (a linear map over a region and time) do not
    learn, translation-invariant ones do. An object's whole path through the clip fits in its receptive
    field (about 20 pixels), and so does the background around it, which is how camera motion and object
    motion can be told apart.
    """

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        channels = config.stem_channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels // 2, kernel_size=2, stride=2),
            nn.GroupNorm(4, channels // 2),
            nn.GELU(),
            nn.Conv2d(channels // 2, channels, kernel_size=3, stride=2, padding=1),
            nn.GroupNorm(8, channels),
            nn.GELU(),
        )
        self.temporal = nn.Sequential(
            nn.Conv3d(
                channels,
                channels,
                kernel_size=(config.tubelet, 3, 3),
                stride=(config.tubelet, 1, 1),
                padding=(0, 1, 1),
            ),
            nn.GroupNorm(8, channels),
            nn.GELU(),
            nn.Conv3d(channels, channels, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.GroupNorm(8, channels),
            nn.GELU(),
        )
        _, height, width, _ = config.frame_shape
        self.cells_h = height // config.stem_patch // config.grid
        self.cells_w = width // config.stem_patch // config.grid
        self.region = nn.Linear(channels * self.cells_h * self.cells_w, config.width)
        self.segment_embedding = nn.Parameter(torch.zeros(config.n_segments, 1, config.width))
        self.region_embedding = nn.Parameter(torch.zeros(1, config.tokens_per_segment, config.width))
        nn.init.normal_(self.segment_embedding, std=0.02)
        nn.init.normal_(self.region_embedding, std=0.02)

    def forward(self, frames: Tensor) -> Tensor:
        """uint8 ``[B, T, H, W, 3]`` -> ``[B, n_tokens, width]``, segment-major."""
        config = self.config
        batch, n_frames, height, width, _ = frames.shape
        pixels = frames.reshape(batch * n_frames, height, width, 3).permute(0, 3, 1, 2)
        features = self.stem(pixels.to(self.region.weight.dtype) / 127.5 - 1.0)  # [B*T, C, h, w]
        features = features.reshape(batch, n_frames, *features.shape[1:]).transpose(1, 2)  # [B, C, T, h, w]
        features = self.temporal(features)  # [B, C, S, h, w]
        grid, channels = config.grid, features.shape[1]
        shape = (batch, channels, config.n_segments, grid, self.cells_h, grid, self.cells_w)
        regions = features.reshape(shape).permute(0, 2, 3, 5, 1, 4, 6)  # [B, S, gh, gw, C, ch, cw]
        regions = regions.reshape(batch, config.n_segments, grid * grid, -1)
        tokens = self.region(regions) + self.segment_embedding + self.region_embedding
        return tokens.reshape(batch, config.n_tokens, -1)


class Projector(nn.Sequential):
    """LLaVA-style two-layer MLP from encoder width to the LM's embedding width."""

    def __init__(self, width: int, hidden_size: int) -> None:
        super().__init__(nn.Linear(width, hidden_size), nn.GELU(), nn.Linear(hidden_size, hidden_size))


def positions_from_mask(mask: Tensor) -> Tensor:
    """Position ids that skip padding: the k-th real token gets position k-1 whatever the padding side."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


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
        _ensure_special_tokens(tokenizer)
        self.lm = lm
        self.tokenizer = tokenizer
        self.vision_config = vision
        self.source = source
        self.lora = lora
        self.encoder = FrameEncoder(vision)
        self.projector = Projector(vision.width, vision.hidden_size)
        self._keeps_logits = "logits_to_keep" in inspect.signature(_base_lm(lm).forward).parameters

    # ------------------------------------------------------------------------------------------ basics

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

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

    def _prompt_ids(self, prompt: str) -> list[int]:
        bos = self.tokenizer.bos_token_id
        return ([bos] if bos is not None else []) + self._text_ids(prompt)

    # ----------------------------------------------------------------------------------------- training

    def collate(
        self, frames: Sequence[FrameInput] | None, prompts: Sequence[str], responses: Sequence[str]
    ) -> dict[str, Tensor | None]:
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
        eos = _require_id(self.tokenizer.eos_token_id, "eos")
        rows, label_rows = [], []
        for prompt, response in zip(prompts, responses, strict=True):
            prompt_ids = self._prompt_ids(prompt)
            response_ids = [*self._text_ids(response), eos]
            rows.append(prompt_ids + response_ids)
            label_rows.append([IGNORE_INDEX] * len(prompt_ids) + response_ids)
        length = max(map(len, rows))
        self._check_length(length)
        pad = _require_id(self.tokenizer.pad_token_id, "pad")
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
        embeds, mask = self._prefixed_inputs(
            frames, input_ids.to(self.device), attention_mask.to(self.device)
        )
        extra = {"logits_to_keep": input_ids.shape[1]} if self._keeps_logits else {}
        out = self.lm(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=positions_from_mask(mask),
            use_cache=False,
            **extra,
        )
        return out.logits[:, -input_ids.shape[1] :, :]

    def _prefixed_inputs(
        self, frames: Tensor | None, input_ids: Tensor, attention_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        text = self.lm.get_input_embeddings()(input_ids)
        if frames is None:
            return text, attention_mask
        visual = self.embed_frames(self.frames_tensor(frames))
        ones = attention_mask.new_ones((attention_mask.shape[0], visual.shape[1]))
        return torch.cat([visual, text], dim=1), torch.cat([ones, attention_mask], dim=1)

    def _check_length(self, text_tokens: int) -> None:
        config = self.lm.config
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        if limit is not None and self.n_frame_tokens + text_tokens > limit:
            raise ValueError(
                f"{self.n_frame_tokens} frame tokens + {text_tokens} text tokens exceed the LM's "
                f"{limit} positions; shorten the texts or max_new_tokens"
            )

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
        if frames is not None and len(frames) != len(prompts):
            raise ValueError(f"generate needs one clip per prompt, got {len(frames)} and {len(prompts)}")
        if do_sample and temperature <= 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
        if contrastive_alpha < 0:
            raise ValueError(f"contrastive_alpha must be >= 0, got {contrastive_alpha}")
        was_training = self.training
        self.eval()
        captions: list[str] = []
        try:
            for start in range(0, len(prompts), batch_size):
                captions += self._generate_batch(
                    None if frames is None else self.frames_tensor(frames[start : start + batch_size]),
                    list(prompts[start : start + batch_size]),
                    _Decoding(do_sample, temperature, top_k, max_new_tokens, contrastive_alpha, generator),
                )
        finally:
            self.train(was_training)
        return captions

    def _generate_batch(self, frames: Tensor | None, prompts: list[str], decoding: _Decoding) -> list[str]:
        # A hand-written loop rather than ``lm.generate``: contrastive decoding runs two differently
        # conditioned streams (with and without the frame prefix), each with its own KV cache, and combines
        # their logits at every step; HF's generate drives a single stream.
        prompt_ids = [self._prompt_ids(prompt) for prompt in prompts]
        self._check_length(max(map(len, prompt_ids)) + decoding.max_new_tokens)
        input_ids, mask = self._left_padded(prompt_ids)
        with_frames = _Stream.start(self, frames, input_ids, mask)
        without_frames = (
            _Stream.start(self, None, input_ids, mask) if decoding.contrastive_alpha > 0 else None
        )
        eos = _require_id(self.tokenizer.eos_token_id, "eos")
        pad = _require_id(self.tokenizer.pad_token_id, "pad")
        finished = torch.zeros(len(prompts), dtype=torch.bool, device=self.device)
        generated: list[Tensor] = []
        for step in range(decoding.max_new_tokens):
            logits = with_frames.logits.float()
            if without_frames is not None:
                alpha = decoding.contrastive_alpha
                logits = (1 + alpha) * logits - alpha * without_frames.logits.float()
            token = decoding.choose(logits).masked_fill(finished, pad)
            generated.append(token)
            finished |= token == eos
            if bool(finished.all()) or step == decoding.max_new_tokens - 1:
                break
            with_frames.advance(self, token)
            if without_frames is not None:
                without_frames.advance(self, token)
        if not generated:
            return [""] * len(prompts)
        return self._decode(torch.stack(generated, dim=1).tolist(), eos)

    def _left_padded(self, rows: list[list[int]]) -> tuple[Tensor, Tensor]:
        length = max(map(len, rows))
        pad = _require_id(self.tokenizer.pad_token_id, "pad")
        input_ids = torch.full((len(rows), length), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for index, row in enumerate(rows):
            input_ids[index, length - len(row) :] = torch.tensor(row)
            mask[index, length - len(row) :] = 1
        return input_ids.to(self.device), mask.to(self.device)

    def _decode(self, rows: list[list[int]], eos: int) -> list[str]:
        texts = []
        for row in rows:
            ids = row[: row.index(eos)] if eos in row else row
            texts.append(self.tokenizer.decode(ids, skip_special_tokens=True).strip())
        return texts

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
        from transformers import AutoModelForCausalLM, AutoTokenizer

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


@dataclass(frozen=True)
class _Decoding:
    do_sample: bool
    temperature: float
    top_k: int | None
    max_new_tokens: int
    contrastive_alpha: float
    generator: torch.Generator | None

    def choose(self, logits: Tensor) -> Tensor:
        """Next token per row from float32 logits ``[B, V]``."""
        if not self.do_sample:
            return logits.argmax(dim=-1)
        logits = logits / self.temperature
        if self.top_k is not None and self.top_k < logits.shape[-1]:
            threshold = logits.topk(self.top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < threshold, float("-inf"))
        probs = logits.softmax(dim=-1)
        if self.generator is not None and self.generator.device != probs.device:
            return torch.multinomial(probs.cpu(), 1, generator=self.generator).squeeze(-1).to(probs.device)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)


@dataclass
class _Stream:
    """One decoding stream: its KV cache, attention mask, next position and last logits."""

    cache: Any
    mask: Tensor
    next_position: Tensor
    logits: Tensor

    @classmethod
    def start(cls, model: VideoLM, frames: Tensor | None, input_ids: Tensor, mask: Tensor) -> _Stream:
        embeds, full_mask = model._prefixed_inputs(frames, input_ids, mask)
        positions = positions_from_mask(full_mask)
        extra = {"logits_to_keep": 1} if model._keeps_logits else {}
        out = model.lm(
            inputs_embeds=embeds, attention_mask=full_mask, position_ids=positions, use_cache=True, **extra
        )
        return cls(getattr(out, _CACHE_NAME), full_mask, positions[:, -1] + 1, out.logits[:, -1, :])

    def advance(self, model: VideoLM, token: Tensor) -> None:
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=1)
        out = model.lm(
            input_ids=token[:, None],
            attention_mask=self.mask,
            position_ids=self.next_position[:, None],
            use_cache=True,
            **{_CACHE_NAME: self.cache},
        )
        self.cache = getattr(out, _CACHE_NAME)
        self.next_position = self.next_position + 1
        self.logits = out.logits[:, -1, :]


# ------------------------------------------------------------------------------------------- helpers


def _require_id(value: int | None, name: str) -> int:
    if value is None:
        raise ValueError(f"the tokenizer has no {name} token")
    return int(value)


def _ensure_special_tokens(tokenizer: PreTrainedTokenizerBase) -> None:
    """Captions end at EOS; padding falls back to EOS (masked anyway) when the tokenizer has no pad token."""
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; a caption model needs one to stop generating")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token


def _base_lm(lm: nn.Module) -> nn.Module:
    get_base = getattr(lm, "get_base_model", None)
    return get_base() if callable(get_base) else lm


def apply_lora(lm: PreTrainedModel, *, rank: int = 8, alpha: int = 16) -> Any:
    """peft LoRA on every linear layer of the LM (the output head excepted)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ModelLoadError(
            "LoRA needs the optional dependency peft: pip install 'synpo-bench[lora]' (or pip install peft)"
        ) from None
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules="all-linear")
    with warnings.catch_warnings():
        # peft reads transformers' deprecated ``is_gradient_checkpointing``: a warning between the two
        # libraries that a user of this tool cannot act on.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        return get_peft_model(lm, config)


def tiny_lm(vocab_size: int, tokenizer: PreTrainedTokenizerBase, config: TinyLMConfig) -> LlamaForCausalLM:
    lm_config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_attention_heads,
        max_position_embeddings=config.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(lm_config)


def _offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return False


def load_pretrained_lm(name: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``AutoModelForCausalLM`` + ``AutoTokenizer`` from a local folder (or, when online, a hub name).

    Raises ``ModelLoadError`` naming ``name`` instead of a hub traceback when it cannot be loaded.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(name).expanduser()
    looks_like_path = local.is_absolute() or name.startswith((".", "~")) or local.exists()
    if looks_like_path and not local.is_dir():
        raise ModelLoadError(f"--model {name}: no such folder (expected a local Hugging Face checkpoint)")
    local_only = looks_like_path or _offline()
    source = str(local) if looks_like_path else name
    try:
        lm = AutoModelForCausalLM.from_pretrained(source, local_files_only=local_only)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    except (OSError, ValueError) as error:
        where = (
            "offline (HF_HUB_OFFLINE is set), so only local folders and the HF cache are used; "
            if (local_only and not looks_like_path)
            else ""
        )
        raise ModelLoadError(
            f"--model {name}: cannot load a causal LM and tokenizer from it: {where}"
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        ) from None
    return lm, tokenizer


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
            _ensure_special_tokens(tokenizer)
            if len(tokenizer) > lm.get_input_embeddings().num_embeddings:
                lm.resize_token_embeddings(len(tokenizer))
        vision = VisionConfig(frame_shape=frame_shape, hidden_size=lm.config.hidden_size)  # type: ignore[arg-type]
        video_lm = VideoLM(lm, tokenizer, vision, source=model)
    if lora:
        video_lm.enable_lora()
    return video_lm
