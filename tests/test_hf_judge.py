"""The local Hugging Face judge, on a tiny random Llama saved to disk (no hub, no network)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from synpo_bench.api.errors import UserError
from synpo_bench.api.judges import FactGrade, JudgeError, make_judge
from synpo_bench.models import train_tokenizer
from synpo_bench.tasks.judges._llm import fact_references, grade_messages, snippet
from synpo_bench.tasks.judges.hf import RETRY_REMINDER, LocalHFJudge
from synpo_bench.tasks.world.clips import sample_facts

REFERENCE = "A red circle moves to the left on a black background."
CAPTION = "A red ball slides left."
GRADE_JSON = '{"correct": 2, "missed": 1, "hallucinated": 1}'
FACTS = sample_facts("train", 0, seed=0)


def plain_prompt(messages: list[dict[str, str]]) -> str:
    return "\n\n".join(m["content"] for m in messages) + "\n\nassistant:"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama and a tokenizer trained on the prompts it will read (no <unk> in them)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("judge") / "tiny-judge"
    prompts = [
        plain_prompt(grade_messages(CAPTION, [REFERENCE], "short")),
        plain_prompt(grade_messages(CAPTION, fact_references(FACTS, "detailed"), "detailed")),
    ]
    tokenizer = train_tokenizer([*prompts, GRADE_JSON, "garbage", RETRY_REMINDER])
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


@pytest.fixture
def load_count(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths ``AutoModelForCausalLM.from_pretrained`` is called with."""
    from transformers import AutoModelForCausalLM

    original = AutoModelForCausalLM.from_pretrained
    loads: list[str] = []

    def counting(path: str, *args: Any, **kwargs: Any) -> Any:
        loads.append(path)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", counting)
    return loads


def fake_generate(tokenizer: Any, replies: list[str], calls: list[dict[str, Any]]) -> Callable[..., Any]:
    """A ``generate`` returning the prompt ids followed by the ids of the next canned reply."""

    def generate(input_ids: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        calls.append({"input_ids": input_ids.clone(), **kwargs})
        reply = tokenizer(replies[len(calls) - 1], add_special_tokens=False)["input_ids"]
        new = torch.tensor([reply], dtype=input_ids.dtype, device=input_ids.device)
        return torch.cat([input_ids, new], dim=1)

    return generate


def patched_judge(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch, replies: list[str], **kwargs: Any
) -> tuple[LocalHFJudge, list[dict[str, Any]]]:
    judge = LocalHFJudge(str(checkpoint), device="cpu", **kwargs)
    tokenizer, model = judge.load()
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(model, "generate", fake_generate(tokenizer, replies, calls))
    return judge, calls


def prompt_text(judge: LocalHFJudge, call: dict[str, Any]) -> str:
    return judge.load()[0].decode(call["input_ids"][0], skip_special_tokens=True)


# ------------------------------------------------------------------------------------ real model


def test_real_model_reply_is_unusable_and_shown(checkpoint: Path, load_count: list[str]) -> None:
    judge = LocalHFJudge(str(checkpoint), device="auto", max_new_tokens=12, max_retries=1)
    assert load_count == []  # lazy: building the judge loads nothing
    tokenizer, model = judge.load()
    replies: list[str] = []
    original = model.generate

    def recording(*args: Any, **kwargs: Any) -> torch.Tensor:
        output = original(*args, **kwargs)
        replies.append(tokenizer.decode(output[0, kwargs["input_ids"].shape[1] :], skip_special_tokens=True))
        return output

    model.generate = recording
    with pytest.raises(JudgeError) as caught:
        judge.grade_reference(CAPTION, [REFERENCE], "short")
    message = str(caught.value)
    assert len(replies) == 2 and judge.generations == 2  # one retry
    assert replies[-1].strip()  # a random model says something, just not a grade
    assert str(checkpoint) in message
    assert repr(snippet(replies[-1])) in message
    assert "after 2 attempts" in message and "\n" not in message
    assert isinstance(caught.value, UserError)
    with pytest.raises(JudgeError):
        judge.grade_reference("another caption", [REFERENCE], "short")
    assert load_count == [str(checkpoint)]  # loaded once for every grade


# ------------------------------------------------------------------------------------ success path


def test_grade_from_reply_and_the_prompt_sent(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    judge, calls = patched_judge(checkpoint, monkeypatch, [GRADE_JSON, GRADE_JSON])
    assert judge.grade_reference(CAPTION, [REFERENCE], "short") == FactGrade(2, 1, 1, 5.0)  # 10 * 2 / 4
    (call,) = calls
    sent = prompt_text(judge, call)
    assert CAPTION in sent and REFERENCE in sent
    # No chat template: the plain concatenation of HttpJudge's messages.
    tokenizer = judge.load()[0]
    expected = tokenizer(plain_prompt(grade_messages(CAPTION, [REFERENCE], "short")))["input_ids"]
    assert call["input_ids"][0].tolist() == expected
    assert call["do_sample"] is False and call["max_new_tokens"] == 64
    assert call["attention_mask"].tolist() == [[1] * len(expected)]
    # Memoised: the same input costs nothing, tuple or list.
    assert judge.grade_reference(CAPTION, (REFERENCE,), "short") == FactGrade(2, 1, 1, 5.0)
    assert len(calls) == 1 and judge.name == f"hf:{checkpoint}"


def test_grade_sends_references_written_from_facts(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    judge, calls = patched_judge(checkpoint, monkeypatch, [GRADE_JSON])
    assert judge.grade(CAPTION, FACTS, "detailed") == FactGrade(2, 1, 1, 5.0)
    messages = grade_messages(CAPTION, fact_references(FACTS, "detailed"), "detailed")
    assert calls[0]["input_ids"][0].tolist() == judge.load()[0](plain_prompt(messages))["input_ids"]
    with pytest.raises(JudgeError, match="unknown caption dimension"):
        judge.grade(CAPTION, FACTS, "colourfulness")
    with pytest.raises(JudgeError, match="no reference text") as caught:
        judge.grade_reference(CAPTION, [], "short")
    assert str(checkpoint) in str(caught.value)


CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)
NO_SYSTEM_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    + CHAT_TEMPLATE
)


def test_chat_template_is_used_when_present(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    judge, calls = patched_judge(checkpoint, monkeypatch, [GRADE_JSON, GRADE_JSON])
    tokenizer = judge.load()[0]
    messages = grade_messages(CAPTION, [REFERENCE], "short")
    monkeypatch.setattr(tokenizer, "chat_template", CHAT_TEMPLATE, raising=False)
    judge.grade_reference(CAPTION, [REFERENCE], "short")
    expected = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert expected.startswith("<system>") and expected.endswith("<assistant>")
    assert calls[0]["input_ids"][0].tolist() == tokenizer(expected, add_special_tokens=False)["input_ids"]
    # A template that refuses a system turn gets one user turn holding both.
    monkeypatch.setattr(tokenizer, "chat_template", NO_SYSTEM_TEMPLATE, raising=False)
    judge.grade_reference("another caption", [REFERENCE], "short")
    sent = prompt_text(judge, calls[1])
    assert sent.startswith("<user>") and "<system>" not in sent and "judge of video captions" in sent


# ---------------------------------------------------------------------------------------- retries


def test_malformed_reply_is_retried_with_a_reminder(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    judge, calls = patched_judge(checkpoint, monkeypatch, ["garbage", GRADE_JSON])
    assert judge.grade_reference(CAPTION, [REFERENCE], "short") == FactGrade(2, 1, 1, 5.0)
    assert len(calls) == 2
    first, second = (prompt_text(judge, call) for call in calls)
    assert RETRY_REMINDER not in first
    assert second.endswith(f"{RETRY_REMINDER}\n\nassistant:")  # appended to the user message


def test_no_retries_means_one_attempt(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    judge, calls = patched_judge(checkpoint, monkeypatch, ["garbage", GRADE_JSON], max_retries=0)
    with pytest.raises(JudgeError, match=r"'garbage' \(after 1 attempt\)"):
        judge.grade_reference(CAPTION, [REFERENCE], "short")
    assert len(calls) == 1


# ----------------------------------------------------------------------------------------- errors


def test_missing_folder_fails_at_construction(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-judge"
    with pytest.raises(JudgeError, match="no-such-judge") as caught:
        LocalHFJudge(str(missing))
    assert isinstance(caught.value, UserError)
    (tmp_path / "a-file").write_text("not a model")
    with pytest.raises(JudgeError, match="a-file"):
        LocalHFJudge(str(tmp_path / "a-file"))
    with pytest.raises(JudgeError, match="hf:PATH"):
        LocalHFJudge("")
    with pytest.raises(JudgeError, match="max_retries"):
        LocalHFJudge(str(tmp_path), max_retries=-1)


def test_load_failure_is_one_line_naming_the_path(tmp_path: Path) -> None:
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    judge = LocalHFJudge(str(empty))  # a folder: construction is fine, loading is not
    with pytest.raises(JudgeError, match="could not load the model") as caught:
        judge.grade_reference(CAPTION, [REFERENCE], "short")
    assert str(empty) in str(caught.value) and "\n" not in str(caught.value)


def test_unknown_device_is_a_load_failure(checkpoint: Path) -> None:
    with pytest.raises(JudgeError, match="could not load the model"):
        LocalHFJudge(str(checkpoint), device="no-such-device").load()


# ------------------------------------------------------------------------------------- make_judge


def test_make_judge_hf_spec(checkpoint: Path, tmp_path: Path, load_count: list[str]) -> None:
    judge = make_judge(f"hf:{checkpoint}", "ignored-model-name")
    assert isinstance(judge, LocalHFJudge)
    assert judge.path == str(checkpoint) and judge.name == f"hf:{checkpoint}"
    assert load_count == []  # validating --judge stays cheap
    with pytest.raises(JudgeError, match="no-such-judge"):
        make_judge(f"hf:{tmp_path / 'no-such-judge'}")
    with pytest.raises(JudgeError, match="hf:PATH"):
        make_judge("gpt-4o")
