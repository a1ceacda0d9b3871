"""What every LLM judge shares: the VDCscore-style prompt, the reply parser, references written from
facts, and the memo and retries around one grading (``LLMJudge``).

The judge model reads the reference description(s) of a clip and a candidate caption and counts the
reference's facts the caption states correctly (``correct``), the reference facts it leaves out or gets
wrong (``missed``) and the facts it states that are false (``hallucinated``); the score is the exact-fact
judge's ``10 * correct / (correct + missed + hallucinated)`` (``metrics.facts.fact_grade``), so all
judges report on one scale.

- ``grade_reference(caption, references, dimension)`` grades against reference text (real data);
- ``grade(caption, facts, dimension)`` writes references from a clip's ground-truth facts with the
  embedded world's reference writers and grades against those (synthetic data);
- grades are memoised per (caption, references, dimension): a repeated caption costs one model call;
- a reply without a valid grade, and a ``TransientError`` of the transport, are retried ``max_retries``
  times (each judge decides how: a backoff, a reminder in the prompt); then a one-line ``JudgeError``
  says what went wrong.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from synpo_bench.api.facts import ClipFacts
from synpo_bench.api.judges import FactGrade, JudgeError
from synpo_bench.tasks.metrics.facts import fact_grade
from synpo_bench.tasks.world.references import DIMENSION_PROMPTS, REFERENCE_WRITERS

Messages = list[dict[str, str]]
"""Chat messages: ``[{"role": "system", "content": ...}, {"role": "user", "content": ...}]``."""

MAX_REFERENCES = 3
"""References sent per clip by ``grade``: VATEX writes ten paraphrases; three state every fact already."""
GRADE_KEYS = ("correct", "missed", "hallucinated")
SNIPPET_CHARS = 200

SYSTEM_PROMPT = (
    "You are an impartial judge of video captions. You compare a candidate caption with reference "
    "descriptions of the same video, fact by fact, and answer with only a JSON object."
)

USER_PROMPT = """Caption dimension: {dimension} (the caption answers the request: "{instruction}")

Reference description(s) of the video:
{references}

Candidate caption:
{caption}

Split the reference into its atomic facts (for example each object's shape, colour, size and motion, \
the background, the camera motion: whatever the reference states). Several references describe the \
same video: count each distinct fact once. Then count:
- "correct": reference facts the candidate states correctly;
- "missed": reference facts the candidate leaves out or states wrongly;
- "hallucinated": facts the candidate states that are false of the video (a wrong value counts as both \
missed and hallucinated; true details the reference does not mention are not hallucinations).

Answer with ONLY a JSON object, no other text:
{{"correct": <int>, "missed": <int>, "hallucinated": <int>}}"""


def snippet(text: str) -> str:
    """One line, at most ``SNIPPET_CHARS`` characters: error messages must stay one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 3] + "..."


def _count(value: Any, key: str) -> int:
    # bool is an int subclass but never a count; 3.0 is accepted as 3 (some servers emit floats).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f'"{key}" is not an integer: {value!r}')
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f'"{key}" is not an integer: {value!r}')
    if value < 0:
        raise ValueError(f'"{key}" is negative: {value!r}')
    return int(value)


def parse_grade_reply(text: str) -> FactGrade:
    """The grade in the first JSON object of a reply that holds the three counts.

    Tolerates code fences and prose around the object; raises ``ValueError`` saying what is wrong.
    """
    decoder = json.JSONDecoder()
    found: dict[str, Any] | None = None
    start = text.find("{")
    while start != -1:
        try:
            value, _end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            found = found or value  # report the first object if none has the keys
            if all(key in value for key in GRADE_KEYS):
                found = value
                break
        start = text.find("{", start + 1)
    if found is None:
        raise ValueError("no JSON object in the reply")
    missing = [key for key in GRADE_KEYS if key not in found]
    if missing:
        raise ValueError(f"the JSON object lacks {', '.join(missing)}")
    return fact_grade(*(_count(found[key], key) for key in GRADE_KEYS))


def fact_references(facts: ClipFacts, dimension: str) -> list[str]:
    """References written from a clip's ground-truth facts for a dimension (the first ``MAX_REFERENCES``)."""
    if dimension not in REFERENCE_WRITERS:
        raise JudgeError(f"unknown caption dimension '{dimension}'; valid: {', '.join(REFERENCE_WRITERS)}")
    return REFERENCE_WRITERS[dimension](facts)[:MAX_REFERENCES]


def grade_messages(caption: str, references: Sequence[str], dimension: str) -> Messages:
    """The chat messages every LLM judge sends; ``ValueError`` when there is no reference text."""
    if not references:
        raise ValueError(f"no reference text to grade a '{dimension}' caption")
    listed = "\n".join(f"{i}. {ref.strip()}" for i, ref in enumerate(references, 1))
    user = USER_PROMPT.format(
        dimension=dimension,
        instruction=DIMENSION_PROMPTS.get(dimension, f"describe the {dimension} of the video."),
        references=listed,
        caption=caption.strip() or "(empty caption)",
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


class TransientError(Exception):
    """A failure worth retrying (its message goes into the final JudgeError)."""


class LLMJudge(ABC):
    """An LLM judge: grades are memoised, unusable replies and transient failures retried.

    A subclass sets ``name`` and ``max_retries``, says how to get one reply (``_reply``) and how its
    error messages start (``_message``).
    """

    name: str
    max_retries: int

    def __init__(self) -> None:
        self._cache: dict[tuple[str, tuple[str, ...], str], FactGrade] = {}

    def grade(self, caption: str, facts: ClipFacts, dimension: str) -> FactGrade:
        """Grade against references written from the clip's ground-truth facts for this dimension."""
        return self.grade_reference(caption, fact_references(facts, dimension), dimension)

    def grade_reference(self, caption: str, references: Sequence[str], dimension: str) -> FactGrade:
        """Grade a caption against reference text (one model call per distinct input, then memoised)."""
        key = (caption, tuple(references), dimension)
        if key not in self._cache:
            try:
                messages = grade_messages(caption, key[1], dimension)
            except ValueError as error:
                raise JudgeError(self._input_message(str(error))) from error
            self._cache[key] = self._grade_with_retries(messages)
        return self._cache[key]

    def _grade_with_retries(self, messages: Messages) -> FactGrade:
        problem = ""
        for attempt in range(self.max_retries + 1):
            try:
                reply = self._reply(messages, attempt)
            except TransientError as error:
                problem = str(error)
                continue
            try:
                return parse_grade_reply(reply)
            except ValueError as error:  # a reply that holds no valid grade: the model may do better
                problem = f"unusable reply ({error}): {snippet(reply)!r}"
        tries = self.max_retries + 1
        raise JudgeError(self._message(f"{problem} (after {tries} attempt{'s' * (tries > 1)})"))

    @abstractmethod
    def _reply(self, messages: Messages, attempt: int) -> str:
        """The model's reply text on attempt ``attempt`` (0 first); ``TransientError`` to retry."""

    @abstractmethod
    def _message(self, what: str) -> str:
        """A one-line error message naming this judge."""

    def _input_message(self, what: str) -> str:
        """The message for input it cannot grade (no reference text, say)."""
        return self._message(what)
