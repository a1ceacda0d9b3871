"""Standard preference data for ``--pairs`` and ``textpref --data-dir``: TRL's standard, implicit-prompt and
conversational formats, UltraFeedback-binarized columns, JSON Lines, parquet and ``datasets`` folders; a
malformed row is counted and named, the rest loads."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import datasets
import pytest

from synpo_bench.api.chat import plain_render
from synpo_bench.models.chat import message_renderer
from synpo_bench.tasks.data.pairs import PairsFileError, RowReading, read_given_pairs, read_pairs
from tests.test_end_to_end import cli
from tests.test_model_checkpoints import save_llama_checkpoint

TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def ultrafeedback(prompt: str, good: str, bad: str) -> dict[str, Any]:
    """A row as HuggingFaceH4/ultrafeedback_binarized has it."""
    return {
        "prompt": prompt,
        "prompt_id": f"id-{prompt}",
        "chosen": [user(prompt), assistant(good)],
        "rejected": [user(prompt), assistant(bad)],
        "messages": [user(prompt), assistant(good)],
        "score_chosen": 8.0,
        "score_rejected": 3.0,
    }


# The same pair, (prompt "Add 2 and 2.", chosen "4", rejected "5"), in every format.
SAME_PAIR = {
    "standard": {"prompt": "Add 2 and 2.", "chosen": "4", "rejected": "5"},
    "conversational": {
        "prompt": [user("Add 2 and 2.")],
        "chosen": [assistant("4")],
        "rejected": [assistant("5")],
    },
    "implicit conversational": {
        "chosen": [user("Add 2 and 2."), assistant("4")],
        "rejected": [user("Add 2 and 2."), assistant("5")],
    },
    "ultrafeedback": ultrafeedback("Add 2 and 2.", "4", "5"),
}


def texts(pairs: list[Any]) -> list[tuple[str, str, str]]:
    return [(pair.prompt, pair.chosen, pair.rejected) for pair in pairs]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.parametrize("form", list(SAME_PAIR))
def test_every_format_reads_as_the_standard_pair(tmp_path: Path, form: str) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [SAME_PAIR[form]])
    pairs, skipped = read_pairs(path, id_field="id", reading=RowReading())
    assert skipped == [] and texts(pairs) == [("Add 2 and 2.", "4", "5")]


def test_ultrafeedback_scores_are_the_pairs_scores(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "uf.jsonl", [SAME_PAIR["ultrafeedback"]])
    (pair,), _ = read_pairs(path, id_field="id", reading=RowReading())
    assert (pair.chosen_score, pair.rejected_score) == (8.0, 3.0)


def test_an_implicit_prompt_is_the_shared_text_cut_between_words(tmp_path: Path) -> None:
    rows = [
        {"chosen": "Q: what is 2+2? A: four", "rejected": "Q: what is 2+2? A: five"},  # "f" shared
        {"chosen": "no shared start", "rejected": "nothing alike"},
    ]
    pairs, skipped = read_pairs(write_jsonl(tmp_path / "p.jsonl", rows), id_field="id", reading=RowReading())
    assert texts(pairs) == [("Q: what is 2+2? A:", " four", " five")]  # TRL's extract_prompt split
    assert skipped == [f"{tmp_path / 'p.jsonl'}: line 2: no 'prompt', and 'chosen' and 'rejected' share no "
                       "leading text to take as one"]  # fmt: skip


def test_a_conversation_not_ending_with_the_assistant_is_counted_and_named(tmp_path: Path) -> None:
    rows = [
        SAME_PAIR["conversational"],
        {"chosen": [user("Hi"), assistant("Hello")], "rejected": [user("Hi"), user("Hello?")]},
        {"chosen": [user("Hi"), assistant("A")], "rejected": [user("Hey"), assistant("B")]},
        {"chosen": [assistant("A")], "rejected": [assistant("B")]},
        {"chosen": [{"role": "user"}], "rejected": [assistant("B")]},
        {"prompt": "Add", "chosen": "4", "rejected": [assistant("5")]},
    ]
    path = write_jsonl(tmp_path / "chat.jsonl", rows)
    pairs, skipped = read_pairs(path, id_field="id", reading=RowReading())
    assert texts(pairs) == [("Add 2 and 2.", "4", "5")]  # the rest loads
    assert skipped == [
        f"{path}: line 2: the last message of 'rejected' is not the assistant's (its role is 'user')",
        f"{path}: line 3: 'chosen' and 'rejected' differ before their last assistant message",
        f"{path}: line 4: no prompt: no message comes before the assistant's answer",
        f"{path}: line 5: message 1 of 'chosen' is not a {{'role', 'content'}} object of strings",
        f"{path}: line 6: 'chosen' and 'rejected' must both be strings or both lists of messages",
    ]


def test_a_multi_turn_prompt_without_a_template_is_a_transcript() -> None:
    messages = [{"role": "system", "content": "Be brief."}, user("Add 2 and 2.")]
    assert plain_render(messages) == "system: Be brief.\nuser: Add 2 and 2.\nassistant:"
    assert plain_render([user("Add 2 and 2.")]) == "Add 2 and 2."


@pytest.fixture(scope="module")
def templated_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny local Llama whose tokenizer has a chat template."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("llama_chat")
    save_llama_checkpoint(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(path)
    return path


def test_the_policys_chat_template_renders_the_prompt(templated_model: Path, tmp_path: Path) -> None:
    render = message_renderer(str(templated_model))
    rows = [{"prompt": [{"role": "system", "content": "Be brief."}, user("Add")], "chosen": [assistant("4")],
             "rejected": [assistant("5")]}]  # fmt: skip
    pairs, _ = read_pairs(write_jsonl(tmp_path / "c.jsonl", rows), id_field="id", reading=RowReading(render))
    assert texts(pairs) == [("<|system|>Be brief.\n<|user|>Add\n<|assistant|>", "4", "5")]
    assert message_renderer(None) is plain_render  # the embedded model has no template


def test_parquet_files_and_dataset_folders_read_alike(tmp_path: Path) -> None:
    rows = [ultrafeedback(f"Prompt {i}", f"good {i}", f"bad {i}") for i in range(4)]
    rows[2]["rejected"] = [user("Prompt 2")]  # malformed: no assistant answer
    table = datasets.Dataset.from_list(rows)
    table.to_parquet(str(tmp_path / "uf.parquet"))
    table.save_to_disk(str(tmp_path / "folder"))
    datasets.DatasetDict({"train_prefs": table, "test_prefs": table.select([0])}).save_to_disk(
        str(tmp_path / "dict")
    )
    for source in ("uf.parquet", "folder", "dict"):
        pairs, skipped = read_pairs(tmp_path / source, id_field="id", reading=RowReading())
        assert [pair.prompt for pair in pairs] == ["Prompt 0", "Prompt 1", "Prompt 3"], source
        reason = "the last message of 'rejected' is not the assistant's (its role is 'user')"
        assert skipped == [f"{tmp_path / source}: row 2: {reason}"], source


def test_video_pairs_need_their_clip_id_and_text_pairs_do_not(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "p.jsonl", [SAME_PAIR["standard"], {**SAME_PAIR["standard"], "clip_id": "c7"}]
    )
    (pair,), skipped = read_given_pairs(path)  # a video task's reading
    assert pair.clip_id == "c7" and skipped == [f"{path}:1: field 'clip_id' is missing or not a string"]
    pairs, skipped = read_given_pairs(path, RowReading(need_clip_id=False))
    assert [p.clip_id for p in pairs] == ["row-1", "c7"] and skipped == []
    with pytest.raises(PairsFileError, match="not one saved by datasets"):
        read_given_pairs(tmp_path)
    assert math.isnan(pair.chosen_score)


@pytest.fixture(scope="module")
def conversational_run(
    tmp_path_factory: pytest.TempPathFactory, templated_model: Path
) -> tuple[Path, subprocess.CompletedProcess]:
    """``--tasks textpref --data-dir`` a DatasetDict folder of UltraFeedback rows, one malformed, trained
    from the templated model."""
    root = tmp_path_factory.mktemp("conversational")
    rows = [ultrafeedback(f"Say {i}.", f"{i}", f"{i + 1}") for i in range(24)]
    rows[5]["chosen"] = [user("Say 5."), assistant("5"), user("again?")]
    splits = {"train": datasets.Dataset.from_list(rows[:20]), "test": datasets.Dataset.from_list(rows[20:])}
    datasets.DatasetDict(splits).save_to_disk(str(root / "data"))
    completed = cli(
        "run", "--tasks", "textpref", "--data-dir", str(root / "data"), "--model", str(templated_model),
        "--losses", "synpo", "--budget", "steps=2", "--batch-size", "4", "--warm-start-steps", "2",
        "--out", str(root / "out"), cache=root / "cache",
    )  # fmt: skip
    return root / "out", completed


def test_textpref_reads_a_conversational_dataset_folder(
    conversational_run: tuple[Path, subprocess.CompletedProcess],
) -> None:
    out, completed = conversational_run
    assert completed.returncode == 0, completed.stdout + completed.stderr
    (run_dir,) = out.iterdir()
    task = json.loads((run_dir / "textpref" / "task.json").read_text())
    assert task["skipped_entries"] == 1
    assert task["skipped_examples"] == [
        f"{out.parent / 'data' / 'train'}: row 5: the last message of 'chosen' is not the assistant's "
        "(its role is 'user')"
    ]
    pairs = [json.loads(line) for line in (run_dir / "textpref" / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == 19
    assert pairs[0]["prompt"] == "<|user|>Say 0.\n<|assistant|>" and pairs[0]["chosen"] == "0"
    assert pairs[0]["chosen_score"] == 8.0
