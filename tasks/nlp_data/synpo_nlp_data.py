"""The offline lm-eval tasks shipped with synpo-bench: how their JSONL is built and how lm-eval loads it.

Two small task sets written by the project (no download, no licence question):

- ``synpo_mc.jsonl`` (80 items): four-choice questions scored by log-likelihood — arithmetic, everyday
  facts, opposites and alphabetical order. Fields: ``id``, ``question``, ``choices`` (4 strings),
  ``answer`` (index of the right choice).
- ``synpo_gen.jsonl`` (50 items): short answers scored by exact match after greedy generation —
  arithmetic, word reversal, "what comes next", capital letters and copying. Fields: ``id``,
  ``question``, ``answer``.

Rebuild (deterministic; the shipped files are this script's output, a test checks they are current):
``python tasks/nlp_data/synpo_nlp_data.py``.

Loading: lm-eval hands ``dataset_kwargs`` to ``datasets.load_dataset``, which resolves relative
``data_files`` against the *working directory*, not the YAML's folder. The YAMLs therefore name
``load_splits`` below as their ``custom_dataset`` (lm-eval resolves ``!function`` against the YAML's
folder), and it resolves ``data_files`` against this file's folder, so the tasks work from any
directory, through ``tasks.metrics.lm_eval.evaluate_lm`` or ``lm_eval --include_path tasks/nlp_data``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent
SEED = 20240601

# ------------------------------------------------------------------------------------------- loading


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_splits(data_files: dict[str, str], **_metadata: Any) -> Any:
    """``custom_dataset`` for the shipped YAMLs: split name -> JSONL file named relative to this folder.

    lm-eval calls it with the task's metadata and ``dataset_kwargs`` as keyword arguments; only
    ``data_files`` matters here.
    """
    import datasets  # lazy: only lm-eval runs need it

    return datasets.DatasetDict(
        {split: datasets.Dataset.from_list(read_jsonl(DATA_DIR / name)) for split, name in data_files.items()}
    )


# ------------------------------------------------------------------------------------------ building

FACTS: tuple[tuple[str, str, tuple[str, str, str]], ...] = (
    ("What colour is the sky on a clear day?", "blue", ("green", "red", "brown")),
    ("How many legs does a spider have?", "eight", ("six", "four", "ten")),
    ("How many days are in a week?", "seven", ("five", "six", "ten")),
    ("Which animal says 'moo'?", "a cow", ("a cat", "a dog", "a duck")),
    ("What do bees make?", "honey", ("milk", "silk", "wool")),
    ("Which season comes after winter?", "spring", ("summer", "autumn", "winter")),
    ("What is frozen water called?", "ice", ("steam", "sand", "glass")),
    ("How many hours are in a day?", "twenty-four", ("twelve", "sixty", "ten")),
    ("Which planet do we live on?", "Earth", ("Mars", "Jupiter", "Venus")),
    ("What colour is grass?", "green", ("blue", "purple", "white")),
    ("Which of these is a fruit?", "an apple", ("a carrot", "a potato", "an onion")),
    ("What do you use to write on paper?", "a pen", ("a spoon", "a shoe", "a cup")),
    ("How many sides does a triangle have?", "three", ("four", "five", "six")),
    ("Which animal can fly?", "a bird", ("a fish", "a horse", "a snail")),
    ("What is the opposite of north?", "south", ("east", "west", "up")),
    ("What gives light during the day?", "the sun", ("the moon", "a rock", "the sea")),
    ("How many months are in a year?", "twelve", ("ten", "eleven", "thirteen")),
    ("Which of these is a vegetable?", "a carrot", ("a banana", "a grape", "a cherry")),
    ("What do fish live in?", "water", ("sand", "trees", "fire")),
    ("Which is the largest?", "an elephant", ("a mouse", "a cat", "a rabbit")),
)

OPPOSITES: tuple[tuple[str, str], ...] = (
    ("hot", "cold"),
    ("big", "small"),
    ("fast", "slow"),
    ("up", "down"),
    ("open", "closed"),
    ("happy", "sad"),
    ("light", "dark"),
    ("early", "late"),
    ("full", "empty"),
    ("old", "new"),
    ("wet", "dry"),
    ("hard", "soft"),
    ("loud", "quiet"),
    ("high", "low"),
    ("long", "short"),
)

WORDS: tuple[str, ...] = (
    "apple", "river", "garden", "planet", "window", "candle", "forest", "pencil", "rocket", "silver",
    "basket", "dragon", "button", "castle", "mirror", "orange", "tiger", "cloud", "stone", "music",
    "bread", "horse", "light", "paper", "train", "water", "zebra", "lemon", "night", "sugar",
)  # fmt: skip

SEQUENCES: tuple[tuple[str, ...], ...] = (
    ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    ("January", "February", "March", "April", "May", "June", "July", "August", "September"),
    ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
)


def _four_choices(rng: random.Random, correct: str, distractors: list[str]) -> tuple[list[str], int]:
    """The right answer among three distractors, at a seeded position."""
    choices = [correct, *distractors[:3]]
    rng.shuffle(choices)
    return choices, choices.index(correct)


def _arithmetic_choices(rng: random.Random, value: int) -> list[str]:
    wrong: list[int] = []
    for offset in rng.sample([-10, -3, -2, -1, 1, 2, 3, 10], 8):
        if value + offset >= 0 and len(wrong) < 3:
            wrong.append(value + offset)
    return [str(number) for number in wrong]


def multiple_choice_items(rng: random.Random) -> list[dict[str, Any]]:
    items: list[tuple[str, str, list[str]]] = []
    for _ in range(30):
        a, b = rng.randint(1, 40), rng.randint(1, 40)
        items.append((f"What is {a} + {b}?", str(a + b), _arithmetic_choices(rng, a + b)))
    items += [(question, right, list(wrong)) for question, right, wrong in FACTS]
    for word, opposite in OPPOSITES:
        others = [o for _, o in OPPOSITES if o != opposite]
        items.append((f"What is the opposite of '{word}'?", opposite, rng.sample(others, 3)))
    for _ in range(15):
        words = rng.sample(WORDS, 4)
        first = min(words)
        items.append(
            ("Which word comes first in alphabetical order?", first, [w for w in words if w != first])
        )
    documents = []
    for number, (question, correct, distractors) in enumerate(items):
        choices, answer = _four_choices(rng, correct, distractors)
        documents.append(
            {"id": f"mc-{number:03d}", "question": question, "choices": choices, "answer": answer}
        )
    return documents


def generation_items(rng: random.Random) -> list[dict[str, Any]]:
    items: list[tuple[str, str]] = []
    for _ in range(15):
        a, b = rng.randint(1, 20), rng.randint(1, 20)
        items.append((f"What is {a} + {b}?", str(a + b)))
    for word in rng.sample(WORDS, 10):
        items.append((f"Write the word '{word}' backwards.", word[::-1]))
    for _ in range(10):
        sequence = rng.choice(SEQUENCES)
        position = rng.randrange(len(sequence) - 1)
        items.append((f"What comes after {sequence[position]}?", sequence[position + 1]))
    for word in rng.sample(WORDS, 10):
        items.append((f"Write '{word}' in capital letters.", word.upper()))
    for _ in range(5):
        phrase = " ".join(rng.sample(WORDS, 2))
        items.append((f"Repeat exactly: {phrase}", phrase))
    return [
        {"id": f"gen-{number:03d}", "question": question, "answer": answer}
        for number, (question, answer) in enumerate(items)
    ]


def build_documents(seed: int = SEED) -> dict[str, list[dict[str, Any]]]:
    """File name -> documents; the same seed always gives the same documents."""
    return {
        "synpo_mc.jsonl": multiple_choice_items(random.Random(f"synpo_mc/{seed}")),
        "synpo_gen.jsonl": generation_items(random.Random(f"synpo_gen/{seed}")),
    }


def to_jsonl(documents: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(document, ensure_ascii=False) + "\n" for document in documents)


def main() -> None:
    for name, documents in build_documents().items():
        (DATA_DIR / name).write_text(to_jsonl(documents), encoding="utf-8")
        print(f"wrote {len(documents)} items to {DATA_DIR / name}")


if __name__ == "__main__":
    main()
