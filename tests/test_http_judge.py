"""The HTTP judge against a stub OpenAI-compatible server on 127.0.0.1 (no other network)."""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from synpo_bench.api.errors import UserError
from synpo_bench.api.judges import FactGrade, JudgeError, make_judge
from synpo_bench.api.tasks import CaptionExample, get_task
from synpo_bench.tasks.judges._llm import parse_grade_reply
from synpo_bench.tasks.judges.exact import ExactFactJudge
from synpo_bench.tasks.judges.http import HttpJudge
from synpo_bench.tasks.metrics.facts import grade_examples
from synpo_bench.tasks.world.phrases import COLOUR_WORDS
from synpo_bench.tasks.world.references import REFERENCE_WRITERS

REFERENCE = "A red circle moves to the left on a black background."


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def user_message(self) -> str:
        return next(m["content"] for m in self.body["messages"] if m["role"] == "user")


@dataclass
class Stub:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    replies: deque[tuple[int, str]] = field(default_factory=deque)

    def answer(self, content: str) -> None:
        """Queue a 200 chat completion whose message content is ``content``."""
        body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        self.replies.append((200, json.dumps(body)))

    def fail(self, status: int, body: str = '{"error": "stub"}') -> None:
        self.replies.append((status, body))


def counts(correct: int, missed: int, hallucinated: int) -> str:
    return json.dumps({"correct": correct, "missed": missed, "hallucinated": hallucinated})


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append(Recorded(self.path, dict(self.headers.items()), body))
            status, text = state.replies.popleft() if state.replies else (500, "no canned reply left")
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def judge_for(stub: Stub, **kwargs: Any) -> HttpJudge:
    options: dict[str, Any] = {"timeout_s": 2, "backoff_s": 0.0, **kwargs}
    return HttpJudge(stub.url, "judge-model", **options)


# ------------------------------------------------------------------------------------ requests


def test_request_body_and_auth_header(stub: Stub) -> None:
    stub.answer(counts(3, 0, 0))
    judge = judge_for(stub, api_key="sk-test")
    judge.grade_reference("A red ball slides left.", [REFERENCE], "short")
    (request,) = stub.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "judge-model"
    assert request.body["temperature"] == 0
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
    assert "A red ball slides left." in request.user_message
    assert REFERENCE in request.user_message
    assert "short" in request.user_message
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert judge.name == f"http:judge-model@{stub.url}"


def test_no_auth_header_without_key_and_key_from_env(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    stub.answer(counts(1, 0, 0))
    judge_for(stub).grade_reference("a", [REFERENCE], "short")
    assert "Authorization" not in stub.requests[-1].headers
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    stub.answer(counts(1, 0, 0))
    judge_for(stub).grade_reference("a", [REFERENCE], "short")
    assert stub.requests[-1].headers["Authorization"] == "Bearer sk-env"


# ------------------------------------------------------------------------------------- parsing


def test_clean_reply_gives_grade(stub: Stub) -> None:
    stub.answer(counts(3, 1, 2))
    grade = judge_for(stub).grade_reference("caption", [REFERENCE], "short")
    assert grade == FactGrade(3, 1, 2, 5.0)  # 10 * 3 / (3 + 1 + 2)


def test_fenced_reply_with_prose_parses(stub: Stub) -> None:
    stub.answer('Here is my grading:\n```json\n{"correct": 2, "missed": 2, "hallucinated": 1}\n```\nDone.')
    grade = judge_for(stub).grade_reference("caption", [REFERENCE], "short")
    assert grade == FactGrade(2, 2, 1, 4.0)


def test_parse_grade_reply_edge_cases() -> None:
    assert parse_grade_reply('{"note": {}} then {"correct": 1, "missed": 0, "hallucinated": 0}').correct == 1
    assert parse_grade_reply('{"correct": 0, "missed": 0, "hallucinated": 0}').score == 0.0
    assert parse_grade_reply('{"correct": 2.0, "missed": 0, "hallucinated": 0}').correct == 2
    for bad in (
        "no json here",
        '{"correct": 1, "missed": 0}',
        '{"correct": -1, "missed": 0, "hallucinated": 0}',
        '{"correct": true, "missed": 0, "hallucinated": 0}',
        '{"correct": "3", "missed": 0, "hallucinated": 0}',
        '{"correct": 1.5, "missed": 0, "hallucinated": 0}',
    ):
        with pytest.raises(ValueError):
            parse_grade_reply(bad)


# ------------------------------------------------------------------------------------- retries


def test_malformed_reply_is_retried(stub: Stub) -> None:
    stub.answer("I think the caption is pretty good!")
    stub.answer(counts(4, 0, 0))
    assert judge_for(stub).grade_reference("caption", [REFERENCE], "short") == FactGrade(4, 0, 0, 10.0)
    assert len(stub.requests) == 2


def test_persistent_malformed_reply_raises(stub: Stub) -> None:
    for _ in range(3):
        stub.answer("not a grade at all")
    with pytest.raises(JudgeError) as caught:
        judge_for(stub, max_retries=2).grade_reference("caption", [REFERENCE], "short")
    message = str(caught.value)
    assert f"{stub.url}/chat/completions" in message
    assert "judge-model" in message
    assert "not a grade at all" in message
    assert "\n" not in message
    assert isinstance(caught.value, UserError)
    assert len(stub.requests) == 3


def test_server_errors_are_retried(stub: Stub) -> None:
    stub.fail(500)
    stub.fail(500)
    stub.answer(counts(1, 1, 0))
    grade = judge_for(stub, max_retries=2).grade_reference("c", [REFERENCE], "short")
    assert grade == FactGrade(1, 1, 0, 5.0)
    assert len(stub.requests) == 3


def test_rate_limit_is_retried(stub: Stub) -> None:
    stub.fail(429, '{"error": "slow down"}')
    stub.answer(counts(1, 0, 0))
    assert judge_for(stub, max_retries=1).grade_reference("c", [REFERENCE], "short").correct == 1
    assert len(stub.requests) == 2


def test_server_errors_exhaust_retries(stub: Stub) -> None:
    for _ in range(2):
        stub.fail(502, "upstream is down")
    with pytest.raises(JudgeError, match=r"HTTP 502.*upstream is down"):
        judge_for(stub, max_retries=1).grade_reference("c", [REFERENCE], "short")
    assert len(stub.requests) == 2


def test_unauthorised_is_not_retried(stub: Stub) -> None:
    stub.fail(401, '{"error": "invalid api key"}')
    with pytest.raises(JudgeError, match="API key") as caught:
        judge_for(stub, api_key="sk-wrong").grade_reference("c", [REFERENCE], "short")
    assert "401" in str(caught.value)
    assert len(stub.requests) == 1


def test_not_found_is_not_retried(stub: Stub) -> None:
    stub.fail(404, '{"error": "model not found"}')
    with pytest.raises(JudgeError, match="not found"):
        judge_for(stub).grade_reference("c", [REFERENCE], "short")
    assert len(stub.requests) == 1


def test_closed_port_raises_judge_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    judge = HttpJudge(f"http://127.0.0.1:{port}/v1", "m", timeout_s=2, max_retries=1, backoff_s=0.0)
    with pytest.raises(JudgeError, match="could not connect") as caught:
        judge.grade_reference("c", [REFERENCE], "short")
    assert f"127.0.0.1:{port}" in str(caught.value)


# ---------------------------------------------------------------------------------- memoisation


def test_repeated_caption_costs_one_request(stub: Stub) -> None:
    stub.answer(counts(2, 0, 0))
    stub.answer(counts(0, 2, 0))
    judge = judge_for(stub)
    first = judge.grade_reference("same caption", [REFERENCE], "short")
    assert judge.grade_reference("same caption", (REFERENCE,), "short") == first
    assert len(stub.requests) == 1
    assert judge.grade_reference("same caption", [REFERENCE], "detailed") == FactGrade(0, 2, 0, 0.0)
    assert len(stub.requests) == 2


# --------------------------------------------------------------------------------- ground truth


def test_grade_sends_references_written_from_facts(stub: Stub) -> None:
    data = get_task("vdc")().load(None, seed=0, size="tiny")
    example = data.eval[0]
    facts = data.facts[example.clip_id]
    stub.answer(counts(5, 1, 0))
    judge = judge_for(stub)
    assert judge.grade("a caption", facts, "detailed") == FactGrade(5, 1, 0, 10.0 * 5 / 6)
    user = stub.requests[-1].user_message
    assert REFERENCE_WRITERS["detailed"](facts)[0] in user
    for obj in facts.objects:
        assert any(word in user for word in COLOUR_WORDS[obj.colour])
    # VATEX writes ten references; a few are sent.
    stub.answer(counts(1, 0, 0))
    judge.grade("a caption", facts, "caption")
    user = stub.requests[-1].user_message
    vatex = REFERENCE_WRITERS["caption"](facts)
    assert vatex[0] in user
    assert vatex[-1] not in user
    with pytest.raises(JudgeError, match="unknown caption dimension"):
        judge.grade("a caption", facts, "colourfulness")


def test_grade_examples_uses_references_without_facts(stub: Stub) -> None:
    examples = [CaptionExample("real-1", "short", "describe the video briefly.", (REFERENCE,))]
    stub.answer(counts(2, 1, 1))
    grades = grade_examples(judge_for(stub), {("real-1", "short"): "a red circle"}, examples, {})
    assert grades == [FactGrade(2, 1, 1, 5.0)]
    assert REFERENCE in stub.requests[-1].user_message


# ---------------------------------------------------------------------------------- make_judge


def test_make_judge_forms() -> None:
    assert isinstance(make_judge("exact"), ExactFactJudge)
    assert isinstance(make_judge("exact-fact"), ExactFactJudge)
    judge = make_judge("http://127.0.0.1:8000/v1/", "qwen")
    assert isinstance(judge, HttpJudge)
    assert judge.base_url == "http://127.0.0.1:8000/v1"
    assert judge.name == "http:qwen@http://127.0.0.1:8000/v1"
    assert isinstance(make_judge("https://api.example.com/v1", "gpt"), HttpJudge)


def test_make_judge_errors() -> None:
    with pytest.raises(JudgeError, match="--judge-model is required"):
        make_judge("http://127.0.0.1:8000/v1")
    with pytest.raises(JudgeError, match="exact") as caught:
        make_judge("gpt-4o")
    assert "http" in str(caught.value)
    assert isinstance(caught.value, UserError)
