"""The language side of the policy: which causal LM it is, how it is loaded, and how it is called.

The LM is any ``AutoModelForCausalLM``: by default a tiny random-init Llama (with a locally trained
tokenizer), or a local Hugging Face checkpoint, optionally wrapped with peft LoRA. Training's forward pass
and decoding call it the same way: positions come from the attention mask (``cumsum - 1``), so
left-padded generation and right-padded training see the same positions for the same tokens.
"""

from __future__ import annotations

import inspect
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor, nn
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.modeling_outputs import CausalLMOutputWithPast

from synpo_bench.api.errors import UserError

# transformers 5 renamed the key/value cache argument and output field from ``past_key_values`` to ``cache``.
CACHE_NAME = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


class ModelLoadError(ValueError, UserError):
    """A model name or path that cannot be loaded (missing, offline, or not a causal LM)."""


ADAPTER_SEED = 0
"""LoRA adapters start from the same random A matrices in every run and cell."""


@dataclass(frozen=True)
class TinyLMConfig:
    """The default LM: a small Llama trained from scratch."""

    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    max_position_embeddings: int = 512


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


def load_pretrained_lm(name: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``AutoModelForCausalLM`` + ``AutoTokenizer`` from a local folder (or, when online, a hub name).

    Raises ``ModelLoadError`` naming ``name`` instead of a hub traceback when it cannot be loaded.
    """
    source, local_only = checkpoint_source(name)
    local = Path(source)
    looks_like_path = local.is_dir()
    try:
        lm = AutoModelForCausalLM.from_pretrained(source, local_files_only=local_only)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    except SafetensorError as error:  # a truncated or damaged weights file, e.g. an interrupted copy
        files = ", ".join(_damaged_safetensors(local)) if looks_like_path else ""
        raise ModelLoadError(
            f"--model {name}: weights file {files or '*.safetensors'} is damaged or truncated "
            f"(an interrupted copy?): {error}; copy the checkpoint again"
        ) from None
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


def checkpoint_source(name: str) -> tuple[str, bool]:
    """What ``from_pretrained`` is given for ``--model name`` (a folder, or a hub name) and whether it
    may look beyond the local files; raises ``ModelLoadError`` for a path that is not a folder."""
    local = Path(name).expanduser()
    looks_like_path = local.is_absolute() or name.startswith((".", "~")) or local.exists()
    if looks_like_path and not local.is_dir():
        raise ModelLoadError(f"--model {name}: no such folder (expected a local Hugging Face checkpoint)")
    return (str(local), True) if looks_like_path else (name, _offline())


def _damaged_safetensors(folder: Path) -> list[str]:
    """The ``*.safetensors`` files of ``folder`` that cannot be opened, as paths to name in an error."""
    damaged = []
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except (SafetensorError, OSError):
            damaged.append(str(path))
    return damaged


def _offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return False


def apply_lora(lm: PreTrainedModel, *, rank: int = 8, alpha: int = 16) -> Any:
    """peft LoRA on every linear layer of the LM (the output head excepted)."""
    return peft_lora(lm, "all-linear", rank=rank, alpha=alpha)


def peft_lora(
    model: PreTrainedModel,
    targets: str | list[str],
    *,
    modules_to_save: list[str] | None = None,
    rank: int = 8,
    alpha: int = 16,
) -> Any:
    """peft LoRA adapters on ``targets`` (peft's ``target_modules``), ``modules_to_save`` trained in full."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ModelLoadError(
            "LoRA needs the optional dependency peft: pip install 'synpo-bench[lora]' (or pip install peft)"
        ) from None
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=0.0,
        target_modules=targets,
        modules_to_save=modules_to_save or None,
    )
    with warnings.catch_warnings():
        # peft reads transformers' deprecated ``is_gradient_checkpointing``: a warning between the two
        # libraries that a user of this tool cannot act on.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(ADAPTER_SEED)  # the same adapters every run: A is random (B starts at 0)
            return get_peft_model(model, config)


def unwrap_lora(lm: nn.Module) -> nn.Module:
    """The model under a peft wrapper (which carries the injected adapters); ``lm`` itself when unwrapped."""
    get_base = getattr(lm, "get_base_model", None)
    return get_base() if callable(get_base) else lm


def keeps_logits(lm: nn.Module) -> bool:
    """Whether the LM's forward takes ``logits_to_keep`` (computing only the logits that are read)."""
    return "logits_to_keep" in inspect.signature(unwrap_lora(lm).forward).parameters


def ensure_special_tokens(tokenizer: PreTrainedTokenizerBase) -> None:
    """Captions end at EOS; padding falls back to EOS (masked anyway) when the tokenizer has no pad token."""
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; a caption model needs one to stop generating")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token


def require_id(value: int | None, name: str) -> int:
    if value is None:
        raise ValueError(f"the tokenizer has no {name} token")
    return int(value)


def positions_from_mask(mask: Tensor) -> Tensor:
    """Position ids that skip padding: the k-th real token gets position k-1 whatever the padding side."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)
