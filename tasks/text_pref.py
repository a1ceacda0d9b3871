"""The ``textpref`` task adapter: text preference pairs, trained on as given, exact match on eval.

Data: with no ``--data-dir``, the embedded set (``synpo_bench.tasks.world.text_pairs``; ``tiny``: 48 train
/ 16 eval pairs, ``default``: 600 / 100). With one, a ``.jsonl`` or ``.parquet`` file, a ``datasets``
folder, or a folder of these (a ``DatasetDict`` folder: its splits), each row in any format
``synpo_bench.tasks.data.pair_formats`` reads (standard ``{"prompt", "chosen", "rejected"}``, implicit
prompt, conversational, UltraFeedback-binarized; the ``id`` dialect of ``synpo_bench.tasks.data.pairs``):
sources named with "train" are the training split and those named with "val", "test" or "eval" the
evaluation split when both kinds exist; otherwise all pairs are pooled, shuffled by the seed and one in
seven held out (at least one). A conversation's prompt is rendered by ``render_messages``.
``load`` returns a ``TaskData`` with ``frames={}``, one ``CaptionExample`` per pair
(dimension ``"text"``, references ``(chosen,)``) and the pairs themselves in ``train_pairs`` /
``eval_pairs``.

Metrics: ``evaluate`` reports ``exact_match``, the percentage (0-100) of eval prompts whose generated
answer equals the chosen answer, comparing the prediction's first non-empty line with surrounding
whitespace removed, inner runs of whitespace collapsed and one trailing period dropped (case matters:
one instruction asks for capital letters); a missing prediction counts as wrong. The engine adds the
held-out preference accuracy (``synpo_bench.tasks.metrics.preference``) as for every task.
``item_scores`` gives each example's exact match (100 or 0) for paired comparisons.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from synpo_bench.api.chat import MessageRenderer, plain_render
from synpo_bench.api.judges import Judge
from synpo_bench.api.tasks import CaptionExample, PreferencePair, TaskAdapter, TaskData, register_task
from synpo_bench.tasks.data.pair_tables import PARQUET_SUFFIX, is_dataset_folder
from synpo_bench.tasks.data.pairs import PairsFileError, RowReading, read_pairs
from synpo_bench.tasks.world.text_pairs import make_text_pairs

DIMENSION = "text"
SOURCE_SUFFIXES = (".jsonl", PARQUET_SUFFIX)
TEXT_PAIR_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"train": 48, "eval": 16},
    "default": {"train": 600, "eval": 100},
}


def normalize_answer(text: str) -> str:
    """The first non-empty line, whitespace collapsed, one trailing period dropped."""
    lines = [line for line in text.splitlines() if line.strip()]
    answer = " ".join(lines[0].split()) if lines else ""
    return answer[:-1].rstrip() if answer.endswith(".") else answer


def to_examples(pairs: Sequence[PreferencePair]) -> list[CaptionExample]:
    return [CaptionExample(pair.clip_id, DIMENSION, pair.prompt, (pair.chosen,)) for pair in pairs]


def _is_source(path: Path) -> bool:
    return (path.is_file() and path.suffix.lower() in SOURCE_SUFFIXES) or is_dataset_folder(path)


def _jsonl_files(data_dir: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(train, eval, pooled) sources of a data path (JSON Lines or parquet files, ``datasets`` folders: a
    ``DatasetDict`` folder's splits are its sources), by the video tasks' naming rule."""
    if not data_dir.exists():
        raise PairsFileError(f"data path {data_dir} does not exist")
    if data_dir.is_file() or is_dataset_folder(data_dir):
        return [], [], [data_dir]
    files = sorted(path for path in data_dir.iterdir() if _is_source(path))
    if not files:
        raise PairsFileError(f"no preference file (*.jsonl, *.parquet or a datasets folder) in {data_dir}")
    train = [path for path in files if "train" in path.stem.lower()]
    evals = [
        path
        for path in files
        if path not in train and any(w in path.stem.lower() for w in ("val", "test", "eval"))
    ]
    return (train, evals, []) if train and evals else ([], [], files)


def _read_all(
    paths: Sequence[Path], skipped: list[str], *, prefix_ids: bool, render: MessageRenderer
) -> list[PreferencePair]:
    """The pairs of several files; ``prefix_ids`` makes ids unique across files ("<file stem>:<id>")."""
    pairs: list[PreferencePair] = []
    for path in paths:
        loaded, bad = read_pairs(path, id_field="id", reading=RowReading(render, need_clip_id=False))
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

    def __init__(self) -> None:
        self.render_messages: MessageRenderer = plain_render
        """How a conversational row's prompt becomes text (``ReadsConversations``; the engine sets it)."""

    def load(self, data_dir: Path | None, *, seed: int = 0, size: str = "default") -> TaskData:
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
            pairs = _read_all(pooled_files, skipped, prefix_ids=prefix_ids, render=self.render_messages)
            random.Random(seed).shuffle(pairs)
            n_eval = max(1, len(pairs) // 7)
            evals, train = pairs[:n_eval], pairs[n_eval:]
        else:
            train = _read_all(train_files, skipped, prefix_ids=prefix_ids, render=self.render_messages)
            evals = _read_all(eval_files, skipped, prefix_ids=prefix_ids, render=self.render_messages)
        if not train or not evals:
            first = f"; first problem: {skipped[0]}" if skipped else ""
            raise PairsFileError(
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
    ) -> TaskData:
        return TaskData(
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
        self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge
    ) -> dict[str, float]:
        """Exact match (%) of each eval prediction against the chosen answer; ``judge`` is unused."""
        if not data.eval:
            return {}
        hits = sum(_matches(predictions, data.eval))
        return {"exact_match": 100.0 * hits / len(data.eval)}

    def item_scores(
        self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge
    ) -> list[dict[str, float]] | None:
        """Per eval example, exact match as 100 or 0 (their mean is ``exact_match``)."""
        return [{"exact_match": 100.0 * hit} for hit in _matches(predictions, data.eval)]


def _matches(predictions: Mapping[tuple[str, str], str], examples: Sequence[CaptionExample]) -> list[bool]:
    """Whether each example's prediction (missing: wrong) equals its chosen answer, both normalized."""
    return [
        normalize_answer(predictions.get((example.clip_id, example.dimension), ""))
        == normalize_answer(example.references[0])
        for example in examples
    ]
