"""Text preference pairs: the JSONL reader, the embedded set, the textpref adapter and its metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from synpo_bench.api.errors import UserError
from synpo_bench.api.stats import IGNORE_INDEX
from synpo_bench.api.tasks import CaptionExample, PreferencePair, TaskData, get_task
from synpo_bench.tasks.data.pairs import PairsFileError, read_pairs_jsonl
from synpo_bench.tasks.metrics.preference import heldout_preference
from synpo_bench.tasks.text_pref import normalize_answer
from synpo_bench.tasks.world.text_pairs import make_text_pairs, split_of


def pair_line(
    prompt: object = "Say hi.", chosen: object = "hi", rejected: object = "bye", **extra: object
) -> str:
    return json.dumps({"prompt": prompt, "chosen": chosen, "rejected": rejected, **extra})


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- reader


def test_malformed_lines_are_skipped_and_named_by_file_and_line(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "pairs.jsonl",
        [
            pair_line(id="a"),  # 1: kept, id "a"
            '{"prompt": "x", "chosen": ',  # 2: not JSON
            json.dumps({"prompt": "p", "chosen": "c"}),  # 3: no rejected
            pair_line(chosen="   "),  # 4: empty chosen
            pair_line(prompt=5),  # 5: prompt not a string
            "",  # 6: blank, ignored without a message
            pair_line(prompt="Count to two.", chosen="1 2", rejected="2 1"),  # 7: kept, id "line-7"
            json.dumps(["prompt", "chosen", "rejected"]),  # 8: not an object
            pair_line(id="a", prompt="again"),  # 9: duplicate id
            pair_line(id=12),  # 10: kept, integer id
            pair_line(chosen="same", rejected="same"),  # 11: nothing to prefer
        ],
    )
    pairs, skipped = read_pairs_jsonl(path, id_field="id")
    assert [pair.clip_id for pair in pairs] == ["a", "line-7", "12"]
    assert (pairs[1].prompt, pairs[1].chosen, pairs[1].rejected) == ("Count to two.", "1 2", "2 1")
    assert [message.split(": ")[1] for message in skipped] == [f"line {n}" for n in (2, 3, 4, 5, 8, 9, 11)]
    assert all(message.startswith(f"{path}: line ") for message in skipped)
    assert "not valid JSON" in skipped[0]
    assert "missing 'rejected'" in skipped[1]
    assert "'chosen' is empty" in skipped[2]
    assert "'prompt' must be a string" in skipped[3]
    assert "duplicate id 'a'" in skipped[5]


def test_missing_file_is_a_clear_user_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(PairsFileError, match=r"nowhere\.jsonl") as caught:
        read_pairs_jsonl(missing, id_field="id")
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, UserError)


# ------------------------------------------------------------------------------------------ embedded set


def test_embedded_pairs_are_deterministic_and_prefix_stable() -> None:
    first = make_text_pairs("train", 30, seed=3)
    assert first == make_text_pairs("train", 30, seed=3)
    assert make_text_pairs("train", 10, seed=3) == first[:10]  # pair i does not depend on n
    assert [p.prompt for p in make_text_pairs("train", 30, seed=4)] != [p.prompt for p in first]
    assert [pair.clip_id for pair in first[:2]] == ["train-00000", "train-00001"]


def test_embedded_splits_are_disjoint_and_prompts_distinct() -> None:
    train, evals = make_text_pairs("train", 600, seed=0), make_text_pairs("eval", 100, seed=0)
    assert len({p.prompt for p in train}) == 600 and len({p.prompt for p in evals}) == 100
    assert not {p.prompt for p in train} & {p.prompt for p in evals}
    assert {split_of(p.prompt) for p in train} == {"train"} and {split_of(p.prompt) for p in evals} == {
        "eval"
    }
    assert all(p.chosen != p.rejected and p.rejected.strip() for p in train + evals)
    assert {p.scores["rejected"] for p in train} == {"wrong", "degenerate"}
    with pytest.raises(ValueError, match="unknown split 'test'"):
        make_text_pairs("test", 1)


def expected_answer(prompt: str) -> str | None:
    """The right answer worked out from the prompt text alone (None for kinds not checked here)."""
    if match := re.fullmatch(r"What is (\d+) ([-+*]) (\d+)\?", prompt):
        a, op, b = int(match[1]), match[2], int(match[3])
        return str({"+": a + b, "-": a - b, "*": a * b}[op])
    if match := re.fullmatch(r"Sort these numbers from smallest to largest: ([\d, ]+)\.", prompt):
        return ", ".join(str(n) for n in sorted(int(x) for x in match[1].split(", ")))
    if match := re.fullmatch(r"Reverse the letters of the word '(\w+)'\.", prompt):
        return match[1][::-1]
    if match := re.fullmatch(r"How many letters are in the word '(\w+)'\?", prompt):
        return str(len(match[1]))
    if match := re.fullmatch(r"Write the word '(\w+)' in capital letters\.", prompt):
        return match[1].upper()
    if prompt.startswith("Repeat exactly: "):
        return prompt.removeprefix("Repeat exactly: ")
    return None


def test_chosen_is_the_right_answer_and_rejected_is_not() -> None:
    pairs = make_text_pairs("train", 200, seed=1) + make_text_pairs("eval", 40, seed=1)
    for pair in pairs:
        answer = expected_answer(pair.prompt)
        assert answer is not None, pair.prompt  # every instruction kind is recognised
        assert pair.chosen == answer, pair
        assert pair.rejected != answer, pair


# -------------------------------------------------------------------------------------------- adapter


def test_adapter_embedded_load() -> None:
    adapter = get_task("textpref")()
    data = adapter.load(None, seed=0, size="tiny")
    assert type(data) is TaskData  # the pairs ride in TaskData's own fields
    assert data.task == "textpref" and data.frames == {} and data.synthetic is True
    assert (len(data.train), len(data.eval)) == (48, 16)
    assert data.train_pairs == make_text_pairs("train", 48, seed=0)
    assert data.eval_pairs == make_text_pairs("eval", 16, seed=0)
    pair = data.eval_pairs[0]
    assert data.eval[0] == CaptionExample(pair.clip_id, "text", pair.prompt, (pair.chosen,))
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        adapter.load(None, size="huge")


def test_adapter_reads_a_folder_with_train_and_test_files(tmp_path: Path) -> None:
    write_lines(tmp_path / "train.jsonl", [pair_line(), pair_line(prompt="Say yo.", chosen="yo"), "oops"])
    write_lines(tmp_path / "test.jsonl", [pair_line(prompt="Say ok.", chosen="ok")])
    data = get_task("textpref")().load(tmp_path, seed=0)
    assert data.synthetic is False and data.source == str(tmp_path)
    # Ids are made unique across files with the file's stem.
    assert [p.clip_id for p in data.train_pairs] == ["train:line-1", "train:line-2"]
    assert [e.clip_id for e in data.eval] == ["test:line-1"]
    assert data.skipped == [f"{tmp_path / 'train.jsonl'}: line 3: not valid JSON (Expecting value)"]


def test_adapter_pools_a_single_file_and_holds_out_one_in_seven(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "pairs.jsonl", [pair_line(prompt=f"Say {n}.", chosen=str(n)) for n in range(14)]
    )
    data = get_task("textpref")().load(path, seed=5)
    assert (len(data.train_pairs), len(data.eval_pairs)) == (12, 2)  # 14 // 7 = 2 held out
    ids = {p.clip_id for p in data.train_pairs + data.eval_pairs}
    assert ids == {f"line-{n}" for n in range(1, 15)}
    assert get_task("textpref")().load(path, seed=5).eval_pairs == data.eval_pairs  # seeded split


def test_adapter_rejects_data_with_no_usable_pair(tmp_path: Path) -> None:
    with pytest.raises(PairsFileError, match="does not exist"):
        get_task("textpref")().load(tmp_path / "absent")
    write_lines(tmp_path / "bad.jsonl", ["nope"])
    with pytest.raises(PairsFileError, match=r"0 training and 0 evaluation pairs.*line 1"):
        get_task("textpref")().load(tmp_path / "bad.jsonl")


# -------------------------------------------------------------------------------------------- metrics


def test_exact_match_against_the_chosen_answer() -> None:
    examples = [CaptionExample(f"e{k}", "text", f"prompt {k}", (answer,)) for k, answer in enumerate("ABCDE")]
    examples[4] = CaptionExample("e4", "text", "prompt 4", ("2, 7, 9",))
    data = TaskData("textpref", {}, [], examples, synthetic=True)
    predictions = {
        ("e0", "text"): "A",  # right
        ("e1", "text"): "  B. \nmore text",  # right: first line, whitespace and one period dropped
        ("e2", "text"): "c",  # wrong: case matters
        # e3: no prediction, wrong
        ("e4", "text"): "2,  7, 9",  # right: inner whitespace collapsed
        ("e0", "other"): "ignored",
    }
    assert get_task("textpref")().evaluate(predictions, data, judge=None) == {"exact_match": 60.0}
    assert normalize_answer("\n\n  x  y.\nz") == "x y"


class LogpTable:
    """A stand-in policy: each response is a number, and its one scored token gets a log-probability that
    grows with it (logits ``[value, 0]``, label 0), so chosen-vs-rejected order follows the numbers."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        self.values = torch.zeros(0)

    def collate(
        self, frames: object, prompts: list[str], responses: list[str]
    ) -> dict[str, torch.Tensor | None]:
        assert frames is None  # a text task: no frames
        self.values = torch.tensor([float(response) for response in responses])
        n = len(responses)
        rows = torch.arange(n).unsqueeze(1).repeat(1, 2)
        labels = torch.tensor([[IGNORE_INDEX, 0]] * n)
        return {"frames": None, "input_ids": rows, "attention_mask": torch.ones(n, 2), "labels": labels}

    def __call__(self, frames: object, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        value = self.values[input_ids[:, 0]]
        logits = torch.zeros(len(value), 2, 2)
        logits[:, 0, 0] = value
        return logits


def text_pairs(chosen: list[float], rejected: list[float]) -> list[PreferencePair]:
    return [
        PreferencePair(f"p{i}", "q", str(c), str(r), 1.0, 0.0)
        for i, (c, r) in enumerate(zip(chosen, rejected, strict=True))
    ]


def test_heldout_preference_accuracy_counts_strict_wins_on_text_pairs() -> None:
    # The held-out accuracy the engine reports, on text pairs (no frames). Wins, loss, tie (not a win),
    # win: 2 of 4, whatever the batch size.
    pairs = text_pairs([-1.0, -2.0, -3.0, -4.0], [-2.0, -1.0, -3.0, -5.0])
    for batch_size in (1, 3, 4):
        assert heldout_preference(LogpTable(), pairs, {}, batch_size).accuracy == 0.5
    assert heldout_preference(LogpTable(), text_pairs([0.0], [-1.0]), {}, 4).accuracy == 1.0
    with pytest.raises(ValueError, match="undefined"):
        heldout_preference(LogpTable(), [], {}, 4)


def test_heldout_preference_margin_is_the_mean_log_probability_gap() -> None:
    # LogpTable gives a one-token response of value v the log-probability log sigmoid(v). Hand-worked:
    # log s(-1) - log s(-2) = -1.313262 + 2.126928 = 0.813666; log s(-3) - log s(-1) = -3.048587 + 1.313262
    # = -1.735325; mean -0.460830. Accuracy: one of two.
    pairs = text_pairs([-1.0, -3.0], [-2.0, -1.0])
    for batch_size in (1, 2):
        preference = heldout_preference(LogpTable(), pairs, {}, batch_size)
        assert preference.accuracy == 0.5
        assert preference.margin == pytest.approx(-0.460830, abs=1e-6)
