"""An LLM judge behind any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, llama.cpp, OpenAI, ...).

VDCscore-style grading: the judge model reads the reference description(s) of a clip and a candidate
caption and counts the reference's facts the caption states correctly (``correct``), the reference facts
it leaves out or gets wrong (``missed``) and the facts it states that are false (``hallucinated``); the
score is the exact-fact judge's ``10 * correct / (correct + missed + hallucinated)``, so the two judges
report on one scale.

- ``grade_reference(caption, references, dimension)`` grades against reference text (real data);
- ``grade(caption, facts, dimension)`` writes references from a clip's ground-truth facts with the
  embedded world's reference writers and grades against those (synthetic data);
- grades are memoised per (caption, references, dimension): a repeated caption costs one request;
- malformed replies, connection errors, timeouts and HTTP 429 / 5xx are retried ``max_retries`` times
  with exponential backoff; then, or at once on any other HTTP 4xx, a one-line ``JudgeError`` names
  the endpoint, the model and what went wrong.

``make_judge(spec, model)`` builds a judge from a CLI-style spec: "exact", a base URL, or "hf:PATH" (a local
Hugging Face model run in-process: ``tasks.hf_judge``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

# httpx rather than the ``openai`` package: one POST to one endpoint needs neither its dependency tree
# nor its own retry logic, and any OpenAI-compatible server answers the same JSON.
import httpx
from synpo_bench.tasks.judge import ExactFactJudge
from synpo_bench.tasks.references import DIMENSION_PROMPTS, REFERENCE_WRITERS

from synpo_bench.api.facts import ClipFacts
from synpo_bench.api.judges import FactGrade, JudgeError

MAX_REFERENCES = 3
"""References sent per clip by ``grade``: VATEX writes ten paraphrases; three state every fact already."""
GRADE_KEYS = ("correct", "missed", "hallucinated")
_SNIPPET_CHARS = 200
_MAX_RETRY_AFTER_S = 30.0

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


def _fact_grade(correct: int, missed: int, hallucinated: int) -> FactGrade:
    """The exact-fact judge's score formula (tasks.judge computes it inline in ``grade_parsed``)."""
    total = correct + missed + hallucinated
    return FactGrade(correct, missed, hallucinated, 10.0 * correct / total if total else 0.0)


def _snippet(text: str) -> str:
    """One line, at most ``_SNIPPET_CHARS`` characters: error messages must stay one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET_CHARS else flat[: _SNIPPET_CHARS - 3] + "..."


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
    return _fact_grade(*(_count(found[key], key) for key in GRADE_KEYS))


def fact_references(facts: ClipFacts, dimension: str) -> list[str]:
    """References written from a clip's ground-truth facts for a dimension (the first ``MAX_REFERENCES``)."""
    if dimension not in REFERENCE_WRITERS:
        raise JudgeError(f"unknown caption dimension '{dimension}'; valid: {', '.join(REFERENCE_WRITERS)}")
    return REFERENCE_WRITERS[dimension](facts)[:MAX_REFERENCES]


def grade_messages(caption: str, references: Sequence[str], dimension: str) -> list[dict[str, str]]:
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


class _Transient(Exception):
    """A failure worth retrying (its message goes into the final JudgeError)."""


class HttpJudge:
    """Grades captions with a chat model behind an OpenAI-compatible API (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        *,
        backoff_s: float = 0.5,
    ) -> None:
        if not model:
            raise JudgeError("an HTTP judge needs a model name (--judge-model)")
        if timeout_s <= 0:
            raise JudgeError(f"judge timeout must be positive, got {timeout_s}")
        if max_retries < 0:
            raise JudgeError(f"judge max_retries must be >= 0, got {max_retries}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key if api_key is not None else (os.environ.get("OPENAI_API_KEY") or None)
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.endpoint = f"{self.base_url}/chat/completions"
        self.name = f"http:{model}@{self.base_url}"
        self.requests_sent = 0
        self._cache: dict[tuple[str, tuple[str, ...], str], FactGrade] = {}
        self._client: httpx.Client | None = None

    # ------------------------------------------------------------------------------------- grading

    def grade(self, caption: str, facts: ClipFacts, dimension: str) -> FactGrade:
        """Grade against references written from the clip's ground-truth facts for this dimension."""
        return self.grade_reference(caption, fact_references(facts, dimension), dimension)

    def grade_reference(self, caption: str, references: Sequence[str], dimension: str) -> FactGrade:
        """Grade a caption against reference text (one request per distinct input, then memoised)."""
        key = (caption, tuple(references), dimension)
        if key not in self._cache:
            self._cache[key] = self._request_grade(self._messages(caption, key[1], dimension))
        return self._cache[key]

    def _messages(self, caption: str, references: Sequence[str], dimension: str) -> list[dict[str, str]]:
        try:
            return grade_messages(caption, references, dimension)
        except ValueError as error:
            raise JudgeError(f"HTTP judge {self.name}: {error}") from error

    # ---------------------------------------------------------------------------------------- HTTP

    def _request_grade(self, messages: list[dict[str, str]]) -> FactGrade:
        payload = {"model": self.model, "messages": messages, "temperature": 0}
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                content = self._post(payload)
            except _Transient as error:
                problem = str(error)
                continue
            try:
                return parse_grade_reply(content)
            except ValueError as error:  # a reply that holds no valid grade: the model may do better
                problem = f"unusable reply ({error}): {_snippet(content)!r}"
        tries = self.max_retries + 1
        raise JudgeError(self._message(f"{problem} (after {tries} attempt{'s' * (tries > 1)})"))

    def _message(self, what: str) -> str:
        return f"HTTP judge (model '{self.model}', {self.endpoint}): {what}"

    def _post(self, payload: dict[str, Any]) -> str:
        """The reply's message content; ``_Transient`` for retryable failures, JudgeError otherwise."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = self._http().post(self.endpoint, json=payload, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            raise JudgeError(self._message(f"invalid URL ({error})")) from error
        except httpx.TimeoutException as error:
            raise _Transient(f"no answer within {self.timeout_s:g}s ({type(error).__name__})") from error
        except httpx.TransportError as error:
            raise _Transient(f"could not connect ({type(error).__name__}: {_snippet(str(error))})") from error
        self.requests_sent += 1
        status = response.status_code
        if status == 429 or status >= 500:
            self._honour_retry_after(response)
            raise _Transient(f"HTTP {status}: {_snippet(response.text)!r}")
        if status in (401, 403):
            hint = "the API key was refused" if self.api_key else "no API key was sent (set OPENAI_API_KEY)"
            raise JudgeError(self._message(f"HTTP {status}: {hint}: {_snippet(response.text)!r}"))
        if status == 404:
            raise JudgeError(
                self._message(
                    f"HTTP 404: URL or model not found (is the base URL the API root, e.g. "
                    f"http://host:8000/v1, and is '{self.model}' served there?): {_snippet(response.text)!r}"
                )
            )
        if status >= 400 or status < 200:
            raise JudgeError(self._message(f"HTTP {status}: {_snippet(response.text)!r}"))
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise _Transient(
                f"not a chat completion ({type(error).__name__}): {_snippet(response.text)!r}"
            ) from error
        if not isinstance(content, str):
            raise _Transient(f"the reply has no text content: {_snippet(response.text)!r}")
        return content

    def _honour_retry_after(self, response: httpx.Response) -> None:
        """Wait what a 429/503 asks for (seconds form only), capped, on top of the usual backoff."""
        try:
            wait = float(response.headers.get("Retry-After", "0"))
        except ValueError:
            return
        if wait > 0:
            time.sleep(min(wait, _MAX_RETRY_AFTER_S))

    def _http(self) -> httpx.Client:
        # Created lazily so a judge that is built but never used opens no connection pool.
        if self._client is None:
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout_s))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> HttpJudge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def make_judge(spec: str, model: str | None = None) -> Any:
    """The judge a CLI spec names: "exact" / "exact-fact", an OpenAI-compatible base URL, or "hf:PATH".

    A base URL gives an ``HttpJudge`` and needs ``model``; "hf:PATH" gives a ``LocalHFJudge`` running the
    Hugging Face causal LM saved in the folder PATH in-process. ``model`` is ignored by all but the URL form.
    """
    text = spec.strip()
    if text.lower() in ("exact", "exact-fact"):
        return ExactFactJudge()
    if text.lower().startswith(("http://", "https://")):
        if not model:
            raise JudgeError("--judge-model is required with an HTTP judge")
        return HttpJudge(text.rstrip("/"), model)
    if text.lower().startswith("hf:"):
        # Imported here: tasks.hf_judge imports this module.
        from synpo_bench.tasks.hf_judge import LocalHFJudge

        return LocalHFJudge(text[len("hf:") :].strip())
    raise JudgeError(
        f"unknown judge '{spec}'; use 'exact' (or 'exact-fact') for the ground-truth judge, the base URL "
        "of an OpenAI-compatible API (e.g. http://127.0.0.1:8000/v1) with --judge-model, or 'hf:PATH' for "
        "a local Hugging Face judge model saved in the folder PATH"
    )
