"""Text preference pairs: the common ``{"prompt", "chosen", "rejected"}`` JSON Lines format, an embedded
procedural set, and the ``textpref`` task adapter.

File format (``load_text_pairs``): one JSON object per line with non-empty string fields ``prompt``,
``chosen`` and ``rejected`` and an optional ``id`` (string or integer; the pair's ``clip_id``, else
``line-<n>``). A line that is not JSON, lacks a field, holds an empty field or a wrong type, repeats an
id, or has ``chosen == rejected`` is skipped with one message naming the file and the line; blank lines
are ignored. A missing or unreadable file raises ``TextPairsError``.

Embedded set (``make_text_pairs``): small instructions whose right answer is known — addition,
subtraction, multiplication, word reversal, sorting numbers, copying a phrase, counting letters,
capital letters. ``chosen`` is the right answer; ``rejected`` is a plausible mistake (off by one, the
wrong operation, unsorted, a dropped word, ...) or, in a quarter of the pairs, a degenerate answer
(repetition, "I don't know."). A prompt belongs to the eval split iff its CRC-32 is divisible by 8, so
the splits never share a prompt whatever ``n`` and ``seed``; within a split, prompts are distinct.

Adapter (``textpref``): with no ``--data-dir``, the embedded set (``tiny``: 48 train / 16 eval pairs,
``default``: 600 / 100). With one, a ``.jsonl`` file or a folder of them: files named with "train" are
the training split and files named with "val", "test" or "eval" the evaluation split when both kinds
exist; otherwise all pairs are pooled, shuffled by the seed and one in seven held out (at least one).
``load`` returns a ``TextPreferenceData``: a ``TaskData`` with ``frames={}``, one ``CaptionExample``
per pair (dimension ``"text"``, references ``(chosen,)``) and the pairs themselves in ``train_pairs`` /
``eval_pairs``.

Metrics: ``evaluate`` reports ``exact_match``, the percentage (0-100) of eval prompts whose generated
answer equals the chosen answer, comparing the prediction's first non-empty line with surrounding
whitespace removed, inner runs of whitespace collapsed and one trailing period dropped (case matters:
one instruction asks for capital letters); a missing prediction counts as wrong.
``preference_accuracy`` is the fraction (0-1) of held-out pairs whose chosen response the policy gives
a strictly higher log-probability, the held-out twin of the training "accuracy" diagnostic.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import torch

from synpo_bench.api.errors import UserError
from synpo_bench.api.tasks import CaptionExample, PreferencePair, TaskAdapter, TaskData, register_task

DIMENSION = "text"
SPLITS = ("train", "eval")
TEXT_PAIR_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"train": 48, "eval": 16},
    "default": {"train": 600, "eval": 100},
}
EVAL_BUCKETS = 8
"""A prompt is an eval prompt iff crc32(prompt) % EVAL_BUCKETS == 0."""
DEGENERATE_SHARE = 0.25
FIELDS = ("prompt", "chosen", "rejected")


class TextPairsError(ValueError, UserError):
    """A preference file or folder that cannot be used at all; the message names the path."""


class _LineError(ValueError):
    """One malformed line; the loader skips it and records the reason."""


# ------------------------------------------------------------------------------------------ reading


def _text_field(entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    if value is None:
        raise _LineError(f"missing '{name}'")
    if not isinstance(value, str):
        raise _LineError(f"'{name}' must be a string, found {type(value).__name__}")
    if not value.strip():
        raise _LineError(f"'{name}' is empty")
    return value


def _pair_id(entry: dict[str, Any], line_number: int) -> str:
    raw = entry.get("id")
    if raw is None:
        return f"line-{line_number}"
    if isinstance(raw, bool) or not isinstance(raw, (str, int)) or not str(raw).strip():
        raise _LineError("'id' must be a non-empty string or an integer")
    return str(raw).strip()


def parse_pair_line(line: str, line_number: int) -> PreferencePair:
    """One JSON Lines entry as a pair, or ``_LineError`` saying what is wrong with it."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as error:
        raise _LineError(f"not valid JSON ({error.msg})") from None
    if not isinstance(entry, dict):
        raise _LineError(f"expected a JSON object, found {type(entry).__name__}")
    prompt, chosen, rejected = (_text_field(entry, name) for name in FIELDS)
    if chosen.strip() == rejected.strip():
        raise _LineError("'chosen' and 'rejected' are the same text")
    pair_id = _pair_id(entry, line_number)
    return PreferencePair(pair_id, prompt, chosen, rejected, 1.0, 0.0, {"source": "file"})


def load_text_pairs(path: Path) -> tuple[list[PreferencePair], list[str]]:
    """The well-formed pairs of a JSON Lines file, and one message per skipped line (file and line)."""
    path = Path(path)
    if not path.is_file():
        raise TextPairsError(f"preference file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TextPairsError(f"cannot read preference file {path}: {error}") from error
    pairs: list[PreferencePair] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            pair = parse_pair_line(line, line_number)
            if pair.clip_id in seen:
                raise _LineError(f"duplicate id '{pair.clip_id}', the earlier line is kept")
        except _LineError as error:
            skipped.append(f"{path}: line {line_number}: {error}")
            continue
        seen.add(pair.clip_id)
        pairs.append(pair)
    return pairs, skipped


# --------------------------------------------------------------------------------------- generating

WORDS: tuple[str, ...] = (
    "apple", "river", "garden", "planet", "window", "candle", "forest", "pencil", "rocket", "silver",
    "basket", "dragon", "button", "castle", "mirror", "orange", "tiger", "cloud", "stone", "music",
    "bread", "horse", "paper", "train", "water", "zebra", "lemon", "night", "sugar", "chair",
    "table", "green", "bottle", "flower", "winter", "summer", "bridge", "market", "doctor", "rabbit",
    "jacket", "pocket", "ladder", "island", "moment", "number", "letter", "animal", "simple", "yellow",
)  # fmt: skip
"""Common words, none a palindrome (reversing one always changes it)."""

Instruction = tuple[str, str, str]
"""(prompt, right answer, plausible wrong answer)."""


def _addition(rng: random.Random) -> Instruction:
    a, b = rng.randint(0, 99), rng.randint(0, 99)
    wrong = a + b + rng.choice([-10, -1, 1, 10])
    return f"What is {a} + {b}?", str(a + b), str(wrong if wrong >= 0 else a + b + 1)


def _subtraction(rng: random.Random) -> Instruction:
    a, b = sorted((rng.randint(0, 99), rng.randint(1, 99)), reverse=True)
    wrong = a + b if rng.random() < 0.5 else a - b + 1  # the wrong operation, or off by one
    return f"What is {a} - {b}?", str(a - b), str(wrong)


def _multiplication(rng: random.Random) -> Instruction:
    a, b = rng.randint(2, 12), rng.randint(2, 12)
    wrong = a * b + a if rng.random() < 0.5 else a + b
    return f"What is {a} * {b}?", str(a * b), str(wrong)


def _reversal(rng: random.Random) -> Instruction:
    word = rng.choice(WORDS)
    wrong = word if rng.random() < 0.5 else word[::-1][1:]  # not reversed, or a letter lost
    return f"Reverse the letters of the word '{word}'.", word[::-1], wrong


def _sorting(rng: random.Random) -> Instruction:
    numbers = rng.sample(range(1, 100), rng.randint(3, 6))
    ordered = sorted(numbers)
    # Largest first, or left as given (unless the numbers came sorted already).
    wrong = sorted(numbers, reverse=True) if ordered == numbers or rng.random() < 0.5 else numbers
    prompt = f"Sort these numbers from smallest to largest: {', '.join(map(str, numbers))}."
    return prompt, ", ".join(map(str, ordered)), ", ".join(map(str, wrong))


def _copying(rng: random.Random) -> Instruction:
    words = rng.sample(WORDS, rng.randint(2, 4))
    dropped = list(words)
    del dropped[rng.randrange(len(words))]
    return f"Repeat exactly: {' '.join(words)}", " ".join(words), " ".join(dropped)


def _letter_count(rng: random.Random) -> Instruction:
    word = rng.choice(WORDS)
    return f"How many letters are in the word '{word}'?", str(len(word)), str(len(word) + rng.choice([-1, 1]))


def _capitals(rng: random.Random) -> Instruction:
    word = rng.choice(WORDS)
    wrong = word if rng.random() < 0.5 else word.capitalize()
    return f"Write the word '{word}' in capital letters.", word.upper(), wrong


INSTRUCTIONS: dict[str, Callable[[random.Random], Instruction]] = {
    "addition": _addition,
    "subtraction": _subtraction,
    "multiplication": _multiplication,
    "reversal": _reversal,
    "sorting": _sorting,
    "copying": _copying,
    "letter_count": _letter_count,
    "capitals": _capitals,
}


def _degenerate(rng: random.Random, chosen: str) -> str:
    """An answer that says nothing: the first word stuck on repeat, or a refusal."""
    first = chosen.split()[0].rstrip(",")
    return " ".join([first] * 4) if rng.random() < 0.5 else "I don't know."


def split_of(prompt: str) -> str:
    """Which split a prompt belongs to, fixed by the prompt alone (so splits never share a prompt)."""
    return "eval" if zlib.crc32(prompt.encode("utf-8")) % EVAL_BUCKETS == 0 else "train"


def make_text_pairs(split: str, n: int, seed: int = 0) -> list[PreferencePair]:
    """``n`` pairs of the embedded set's ``split`` ("train" or "eval"); the same arguments give the same
    pairs, and pair ``i`` does not depend on ``n``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; valid splits: {', '.join(SPLITS)}")
    rng = random.Random(f"textpref/{split}/{seed}")
    kinds = list(INSTRUCTIONS)
    pairs: list[PreferencePair] = []
    seen: set[str] = set()
    for _ in range(200 * n + 1000):
        if len(pairs) == n:
            return pairs
        kind = rng.choice(kinds)
        prompt, chosen, wrong = INSTRUCTIONS[kind](rng)
        degenerate = rng.random() < DEGENERATE_SHARE
        if prompt in seen or split_of(prompt) != split:
            continue
        degenerate = degenerate or wrong == chosen  # a "mistake" that happens to be right is no mistake
        rejected = _degenerate(rng, chosen) if degenerate else wrong
        seen.add(prompt)
        scores = {"source": "synthetic", "kind": kind, "rejected": "degenerate" if degenerate else "wrong"}
        pairs.append(PreferencePair(f"{split}-{len(pairs):05d}", prompt, chosen, rejected, 1.0, 0.0, scores))
    if len(pairs) == n:
        return pairs
    raise ValueError(f"cannot draw {n} distinct '{split}' prompts (got {len(pairs)})")


# ---------------------------------------------------------------------------------------- the adapter


@dataclass
class TextPreferenceData(TaskData):
    """``TaskData`` for text-only preference tasks, with the pairs the engine trains and scores on."""

    train_pairs: list[PreferencePair] = field(default_factory=list)
    eval_pairs: list[PreferencePair] = field(default_factory=list)


def normalize_answer(text: str) -> str:
    """The first non-empty line, whitespace collapsed, one trailing period dropped."""
    lines = [line for line in text.splitlines() if line.strip()]
    answer = " ".join(lines[0].split()) if lines else ""
    return answer[:-1].rstrip() if answer.endswith(".") else answer


def to_examples(pairs: Sequence[PreferencePair]) -> list[CaptionExample]:
    return [CaptionExample(pair.clip_id, DIMENSION, pair.prompt, (pair.chosen,)) for pair in pairs]


def preference_accuracy(
    chosen_logps: Sequence[float] | torch.Tensor, rejected_logps: Sequence[float] | torch.Tensor
) -> float:
    """Fraction (0-1) of pairs whose chosen response has the strictly higher log-probability."""
    chosen = torch.as_tensor(chosen_logps, dtype=torch.float64).flatten()
    rejected = torch.as_tensor(rejected_logps, dtype=torch.float64).flatten()
    if chosen.shape != rejected.shape:
        raise ValueError(f"{chosen.numel()} chosen but {rejected.numel()} rejected log-probabilities")
    if chosen.numel() == 0:
        raise ValueError("preference accuracy of no pairs is undefined")
    return float((chosen > rejected).double().mean())


def _jsonl_files(data_dir: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(train files, eval files, pooled files) of a data path, by the video tasks' naming rule."""
    if not data_dir.exists():
        raise TextPairsError(f"data path {data_dir} does not exist")
    if data_dir.is_file():
        return [], [], [data_dir]
    files = sorted(path for path in data_dir.iterdir() if path.is_file() and path.suffix.lower() == ".jsonl")
    if not files:
        raise TextPairsError(f"no preference file (*.jsonl) in {data_dir}")
    train = [path for path in files if "train" in path.stem.lower()]
    evals = [
        path
        for path in files
        if path not in train and any(w in path.stem.lower() for w in ("val", "test", "eval"))
    ]
    return (train, evals, []) if train and evals else ([], [], files)


def _read_all(paths: Sequence[Path], skipped: list[str], *, prefix_ids: bool) -> list[PreferencePair]:
    """The pairs of several files; ``prefix_ids`` makes ids unique across files ("<file stem>:<id>")."""
    pairs: list[PreferencePair] = []
    for path in paths:
        loaded, bad = load_text_pairs(path)
        if prefix_ids:
            loaded = [replace(pair, clip_id=f"{path.stem}:{pair.clip_id}") for pair in loaded]
        pairs += loaded
        skipped += bad
    return pairs


@register_task("textpref")
class TextPreferenceTask(TaskAdapter):
    name: ClassVar[str] = "textpref"
    description: ClassVar[str] = "Text preference pairs (prompt/chosen/rejected JSONL); exact match on eval"
    metrics: ClassVar[tuple[str, ...]] = ("exact_match",)

    def load(self, data_dir: Path | None, *, seed: int = 0, size: str = "default") -> TextPreferenceData:
        if size not in TEXT_PAIR_SIZES:
            raise ValueError(f"unknown size '{size}'; valid sizes: {', '.join(TEXT_PAIR_SIZES)}")
        counts = TEXT_PAIR_SIZES[size]
        if data_dir is None:
            train = make_text_pairs("train", counts["train"], seed)
            evals = make_text_pairs("eval", counts["eval"], seed)
            return self._data(train, evals, [], synthetic=True, source=f"synthetic(seed={seed}, size={size})")
        train, evals, skipped = self._read_real(Path(data_dir), seed)
        if size == "tiny":  # a smoke run stops at the tiny set's counts
            train, evals = train[: counts["train"]], evals[: counts["eval"]]
        return self._data(train, evals, skipped, synthetic=False, source=str(data_dir))

    def _read_real(
        self, data_dir: Path, seed: int
    ) -> tuple[list[PreferencePair], list[PreferencePair], list[str]]:
        train_files, eval_files, pooled_files = _jsonl_files(data_dir)
        skipped: list[str] = []
        prefix_ids = len(train_files) + len(eval_files) + len(pooled_files) > 1
        if pooled_files:
            pairs = _read_all(pooled_files, skipped, prefix_ids=prefix_ids)
            random.Random(seed).shuffle(pairs)
            n_eval = max(1, len(pairs) // 7)
            evals, train = pairs[:n_eval], pairs[n_eval:]
        else:
            train = _read_all(train_files, skipped, prefix_ids=prefix_ids)
            evals = _read_all(eval_files, skipped, prefix_ids=prefix_ids)
        if not train or not evals:
            first = f"; first problem: {skipped[0]}" if skipped else ""
            raise TextPairsError(
                f"{data_dir} gives {len(train)} training and {len(evals)} evaluation pairs; both must be "
                f"non-empty ({len(skipped)} lines skipped){first}"
            )
        return train, evals, skipped

    def _data(
        self,
        train: list[PreferencePair],
        evals: list[PreferencePair],
        skipped: list[str],
        *,
        synthetic: bool,
        source: str,
    ) -> TextPreferenceData:
        return TextPreferenceData(
            task=self.name,
            frames={},
            train=to_examples(train),
            eval=to_examples(evals),
            synthetic=synthetic,
            skipped=skipped,
            source=source,
            train_pairs=train,
            eval_pairs=evals,
        )

    def evaluate(
        self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Any
    ) -> dict[str, float]:
        """Exact match (%) of each eval prediction against the chosen answer; ``judge`` is unused."""
        if not data.eval:
            return {}
        hits = sum(
            normalize_answer(predictions.get((example.clip_id, example.dimension), ""))
            == normalize_answer(example.references[0])
            for example in data.eval
        )
        return {"exact_match": 100.0 * hits / len(data.eval)}
