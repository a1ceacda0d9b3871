"""The prompt text of a conversational preference row: the policy's chat template, when it has one.

Rendered when the data is read (before any model is built), so a pair keeps one prompt string through
the pair file, the data hash, batching and evaluation, as every other pair does. Only a causal ``--model``
whose tokenizer has a chat template renders with it; the embedded model has none, and a vision-language
checkpoint's ``collate`` already puts the prompt text in its own chat template's user turn (so its rows
get ``plain_render``, as a prompt of the standard format would be).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from synpo_bench.api.chat import Message, MessageRenderer, plain_render
from synpo_bench.models.build import is_vision_language
from synpo_bench.models.lm import checkpoint_source


def message_renderer(model: str | None) -> MessageRenderer:
    """How the run's policy reads a conversation's prompt (see the module docstring)."""
    if model is None or is_vision_language(model):
        return plain_render
    source, local_only = checkpoint_source(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    except (OSError, ValueError):
        return plain_render  # loading the model itself then says what is wrong with it
    if not tokenizer.chat_template:
        return plain_render
    return partial(render_with_template, tokenizer)


def render_with_template(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message]) -> str:
    """The template's text of ``messages`` and the assistant's opening; without a leading BOS, which the
    policy puts before every prompt itself."""
    text = str(
        tokenizer.apply_chat_template([dict(m) for m in messages], tokenize=False, add_generation_prompt=True)
    )
    bos = tokenizer.bos_token
    return text.removeprefix(bos) if isinstance(bos, str) and bos else text
