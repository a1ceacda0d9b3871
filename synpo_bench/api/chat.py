"""Chat messages in preference data: how a conversation's prompt becomes the prompt text a policy reads.

A conversational preference row (TRL's format: lists of ``{"role", "content"}`` messages) is turned into
text when it is read (``synpo_bench.tasks.data.pair_formats``): the messages before the last assistant
turn, rendered by a ``MessageRenderer``. The engine passes the policy's chat template when the policy has
one (``synpo_bench.models.chat``); otherwise ``plain_render``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

Message = Mapping[str, str]
"""``{"role": "user" | "assistant" | "system" | ..., "content": text}``."""
MessageRenderer = Callable[[Sequence[Message]], str]
"""The messages of a prompt (ending before the assistant's answer) -> the prompt text."""


def plain_render(messages: Sequence[Message]) -> str:
    """Without a chat template: one user message is its own text (so a single-turn conversational row
    trains as the same row in the standard format); a longer exchange is a ``role: content`` transcript
    that ends with the assistant's cue."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n".join([*(f"{m['role']}: {m['content']}" for m in messages), "assistant:"])


@runtime_checkable
class ReadsConversations(Protocol):
    """A task adapter whose data may be conversational: the engine sets how prompts are rendered."""

    render_messages: MessageRenderer
