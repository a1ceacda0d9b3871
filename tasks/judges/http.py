"""An LLM judge behind any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, llama.cpp, OpenAI, ...):
``--judge http(s)://HOST/...`` with ``--judge-model NAME``.

The grading, memo and retries are every LLM judge's (``_llm``). Here: connection errors, timeouts and
HTTP 429 / 5xx are retried ``max_retries`` times with exponential backoff, as are replies without a
valid grade; then, or at once on any other HTTP 4xx, a one-line ``JudgeError`` names the endpoint, the
model and what went wrong.
"""

from __future__ import annotations

import os
import time
from typing import Any

# httpx rather than the ``openai`` package: one POST to one endpoint needs neither its dependency tree
# nor its own retry logic, and any OpenAI-compatible server answers the same JSON.
import httpx

from synpo_bench.api.judges import Judge, JudgeError, JudgeFactory, register_judge
from synpo_bench.tasks.judges._llm import LLMJudge, Messages, TransientError, snippet

_MAX_RETRY_AFTER_S = 30.0


class HttpJudge(LLMJudge):
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
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key if api_key is not None else (os.environ.get("OPENAI_API_KEY") or None)
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.endpoint = f"{self.base_url}/chat/completions"
        self.name = f"http:{model}@{self.base_url}"
        self.requests_sent = 0
        self._client: httpx.Client | None = None

    # ---------------------------------------------------------------------------------------- HTTP

    def _reply(self, messages: Messages, attempt: int) -> str:
        if attempt:
            time.sleep(self.backoff_s * 2 ** (attempt - 1))
        return self._post({"model": self.model, "messages": messages, "temperature": 0})

    def _message(self, what: str) -> str:
        return f"HTTP judge (model '{self.model}', {self.endpoint}): {what}"

    def _input_message(self, what: str) -> str:
        return f"HTTP judge {self.name}: {what}"

    def _post(self, payload: dict[str, Any]) -> str:
        """The reply's message content; ``TransientError`` for retryable failures, JudgeError otherwise."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = self._http().post(self.endpoint, json=payload, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            raise JudgeError(self._message(f"invalid URL ({error})")) from error
        except httpx.TimeoutException as error:
            raise TransientError(f"no answer within {self.timeout_s:g}s ({type(error).__name__})") from error
        except httpx.TransportError as error:
            raise TransientError(
                f"could not connect ({type(error).__name__}: {snippet(str(error))})"
            ) from error
        self.requests_sent += 1
        status = response.status_code
        if status == 429 or status >= 500:
            self._honour_retry_after(response)
            raise TransientError(f"HTTP {status}: {snippet(response.text)!r}")
        if status in (401, 403):
            hint = "the API key was refused" if self.api_key else "no API key was sent (set OPENAI_API_KEY)"
            raise JudgeError(self._message(f"HTTP {status}: {hint}: {snippet(response.text)!r}"))
        if status == 404:
            raise JudgeError(
                self._message(
                    f"HTTP 404: URL or model not found (is the base URL the API root, e.g. "
                    f"http://host:8000/v1, and is '{self.model}' served there?): {snippet(response.text)!r}"
                )
            )
        if status >= 400 or status < 200:
            raise JudgeError(self._message(f"HTTP {status}: {snippet(response.text)!r}"))
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise TransientError(
                f"not a chat completion ({type(error).__name__}): {snippet(response.text)!r}"
            ) from error
        if not isinstance(content, str):
            raise TransientError(f"the reply has no text content: {snippet(response.text)!r}")
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


def _build(spec: str, model: str | None) -> Judge:
    if not model:
        raise JudgeError("--judge-model is required with an HTTP judge")
    return HttpJudge(spec.rstrip("/"), model)


register_judge(
    JudgeFactory(
        name="http",
        accepts=lambda spec: spec.lower().startswith(("http://", "https://")),
        build=_build,
        usage="the base URL of an OpenAI-compatible API (e.g. http://127.0.0.1:8000/v1) with --judge-model",
    )
)
