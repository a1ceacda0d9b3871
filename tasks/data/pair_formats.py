"""Preference rows in the common formats, each turned into the standard one before it is parsed.

The formats (TRL's names; a row may carry other fields, which are kept):

- **standard**: ``prompt``, ``chosen``, ``rejected`` strings (left as they are);
- **implicit prompt**: ``chosen`` and ``rejected`` strings only: their shared leading text, cut at a word
  boundary, is the prompt and the rest of each the response (TRL's ``extract_prompt``: the space before
  the first differing word goes with the responses);
- **conversational**: ``chosen`` and ``rejected`` lists of ``{"role", "content"}`` messages, with the
  prompt as a list of messages in ``prompt`` or (implicit) as the messages both lists share. The prompt
  is every message before the last assistant turn, rendered to text (``synpo_bench.api.chat``: the
  policy's chat template, or plain text); the responses are the last assistant turns' contents. A row
  whose last message is not the assistant's, or whose two lists differ before it, is malformed;
- **UltraFeedback-binarized** (``HuggingFaceH4/ultrafeedback_binarized``): a ``prompt`` string, ``chosen``
  and ``rejected`` as whole conversations (the user's turn, then the assistant's) and ``score_chosen`` /
  ``score_rejected``, read as ``chosen_score`` / ``rejected_score``.
"""

from __future__ import annotations

import os
from typing import Any

from synpo_bench.api.chat import Message, MessageRenderer

SCORE_ALIASES = {"score_chosen": "chosen_score", "score_rejected": "rejected_score"}


class RowError(ValueError):
    """A row no format reads; the reader counts it, names it and skips it."""


def standard_row(record: Any, render: MessageRenderer) -> Any:
    """``record`` in the standard format (strings), or as it is when it is no object (the dialect says
    why); ``RowError`` for a conversational row that cannot be read."""
    if not isinstance(record, dict):
        return record
    row = dict(record)
    for alias, name in SCORE_ALIASES.items():
        if alias in row and name not in row:
            row[name] = row[alias]
    chosen, rejected = row.get("chosen"), row.get("rejected")
    if isinstance(chosen, list) or isinstance(rejected, list):
        row.update(_conversational(row, render))
    elif row.get("prompt") is None and isinstance(chosen, str) and isinstance(rejected, str):
        row.update(_implicit_prompt(chosen, rejected))
    return row


def _implicit_prompt(chosen: str, rejected: str) -> dict[str, str]:
    cut = len(os.path.commonprefix([chosen, rejected]))  # noqa: RUF071 (texts: character-wise is meant)
    if not _word_ends_at(chosen, rejected, cut):
        cut = max(0, *(chosen.rfind(space, 0, cut) for space in " \n\t"))  # back to the word's start
    prompt = chosen[:cut].rstrip()
    if not prompt.strip():
        raise RowError("no 'prompt', and 'chosen' and 'rejected' share no leading text to take as one")
    return {"prompt": prompt, "chosen": chosen[len(prompt) :], "rejected": rejected[len(prompt) :]}


def _word_ends_at(chosen: str, rejected: str, cut: int) -> bool:
    """Whether the shared text ``[:cut]`` ends between words in both texts (not inside a word)."""
    if cut == 0 or chosen[cut - 1].isspace():
        return True
    return all(cut == len(text) or text[cut].isspace() for text in (chosen, rejected))


def _conversational(row: dict[str, Any], render: MessageRenderer) -> dict[str, str]:
    chosen, rejected = _messages(row.get("chosen"), "chosen"), _messages(row.get("rejected"), "rejected")
    prompt = row.get("prompt")
    if isinstance(prompt, list):  # explicit prompt: the two lists hold the answers
        context = _messages(prompt, "prompt")
        chosen, rejected = [*context, *chosen], [*context, *rejected]
    elif isinstance(prompt, str) and len(chosen) == len(rejected) == 1:  # a string prompt, answers alone
        user: Message = {"role": "user", "content": prompt}
        chosen, rejected = [user, *chosen], [user, *rejected]
    elif prompt is not None and not isinstance(prompt, str):
        raise RowError(f"'prompt' must be a string or a list of messages, found {type(prompt).__name__}")
    for name, conversation in (("chosen", chosen), ("rejected", rejected)):
        role = conversation[-1]["role"]
        if role != "assistant":
            raise RowError(f"the last message of '{name}' is not the assistant's (its role is '{role}')")
    if chosen[:-1] != rejected[:-1]:
        raise RowError("'chosen' and 'rejected' differ before their last assistant message")
    if not chosen[:-1]:
        raise RowError("no prompt: no message comes before the assistant's answer")
    return {
        "prompt": render(chosen[:-1]),
        "chosen": chosen[-1]["content"],
        "rejected": rejected[-1]["content"],
    }


def _messages(value: Any, name: str) -> list[Message]:
    if isinstance(value, str):
        raise RowError("'chosen' and 'rejected' must both be strings or both lists of messages")
    if not isinstance(value, list) or not value:
        raise RowError(f"'{name}' must be a non-empty list of messages")
    for number, message in enumerate(value, start=1):
        if not (
            isinstance(message, dict)
            and isinstance(message.get("role"), str)
            and isinstance(message.get("content"), str)
        ):
            raise RowError(f"message {number} of '{name}' is not a {{'role', 'content'}} object of strings")
    return [{"role": message["role"], "content": message["content"]} for message in value]
