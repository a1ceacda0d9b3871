"""The embedded text preference set: small instructions whose right answer is known.

Addition, subtraction, multiplication, word reversal, sorting numbers, copying a phrase, counting letters,
capital letters. ``chosen`` is the right answer; ``rejected`` is a plausible mistake (off by one, the
wrong operation, unsorted, a dropped word, ...) or, in a quarter of the pairs, a degenerate answer
(repetition, "I don't know."). A prompt belongs to the eval split iff its CRC-32 is divisible by 8, so
the splits never share a prompt whatever ``n`` and ``seed``; within a split, prompts are distinct.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable

from synpo_bench.api.tasks import PreferencePair

SPLITS = ("train", "eval")
EVAL_BUCKETS = 8
"""A prompt is an eval prompt iff crc32(prompt) % EVAL_BUCKETS == 0."""
DEGENERATE_SHARE = 0.25

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
