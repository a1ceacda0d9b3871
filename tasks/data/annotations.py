"""Benchmark annotation files: where they are, how they are read, and the fields adapters pull out.

Annotation files (``find_annotation_files``): ``--data-dir`` is either one annotation file or a folder
holding ``*.json`` / ``*.jsonl`` files. In a folder, files whose name contains "train" are the training
split and files whose name contains "val", "test" or "eval" the evaluation split; when both kinds are
present they are used as given, otherwise every annotation file is pooled (``real_task.py`` splits them).

Formats: a ``.json`` file holds a JSON list of entries (or an object with the list under
"annotations", "data", "entries" or "videos"); a ``.jsonl`` file (or a ``.json`` file that turns out
to be JSON Lines) one entry per line.

Entries: each adapter parses its benchmark's entries (``EntryParser``) into a ``RealEntry`` with the
helpers here; ``DataError`` marks a file (or folder) that cannot be used at all, ``EntryError`` one
malformed entry, which the loader skips.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synpo_bench.api.errors import UserError
from synpo_bench.api.tasks import CaptionExample

ANNOTATION_EXTENSIONS = (".json", ".jsonl")
_LIST_KEYS = ("annotations", "data", "entries", "videos")


class DataError(ValueError, UserError):
    """An annotation file (or data folder) that cannot be used at all; the message names the path."""


class EntryError(ValueError):
    """One malformed annotation entry; the loader skips it and records the reason."""


@dataclass(frozen=True)
class RealEntry:
    """One parsed annotation entry: its clip, where its video is named, and its caption examples."""

    clip_id: str
    video_name: str
    examples: tuple[CaptionExample, ...]


EntryParser = Callable[[Any], RealEntry]


@dataclass(frozen=True)
class AnnotationFiles:
    train: tuple[Path, ...]
    eval: tuple[Path, ...]
    pooled: tuple[Path, ...]
    """Files without a split in their name: pooled and split by the data seed."""


def find_annotation_files(data_dir: Path) -> AnnotationFiles:
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise DataError(f"data path {data_dir} does not exist")
    if data_dir.is_file():
        return AnnotationFiles((), (), (data_dir,))
    files = sorted(
        path for path in data_dir.iterdir() if path.is_file() and path.suffix.lower() in ANNOTATION_EXTENSIONS
    )
    if not files:
        raise DataError(f"no annotation file (*.json or *.jsonl) in {data_dir}")
    train = tuple(path for path in files if "train" in path.stem.lower())
    evals = tuple(
        path
        for path in files
        if path not in train and any(word in path.stem.lower() for word in ("val", "test", "eval"))
    )
    if train and evals:
        return AnnotationFiles(train, evals, ())
    return AnnotationFiles((), (), tuple(files))


def read_annotation_file(path: Path) -> tuple[list[tuple[int, Any]], list[str]]:
    """(entry number, raw entry) pairs, and one message per JSON Lines line that is not JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read annotation file {path}: {error}") from error
    if not text.strip():
        raise DataError(f"annotation file {path} is empty")
    if path.suffix.lower() == ".jsonl":
        return _read_json_lines(path, text)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":  # JSON Lines under a .json name
            return _read_json_lines(path, text)
        raise DataError(f"annotation file {path} is not valid JSON: {error}") from error
    return list(enumerate(_entry_list(path, document))), []


def _entry_list(path: Path, document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in _LIST_KEYS:
            if isinstance(document.get(key), list):
                return document[key]
    raise DataError(
        f"annotation file {path} must hold a JSON list of entries (or an object with the list under "
        f"{', '.join(repr(k) for k in _LIST_KEYS)}); found {type(document).__name__}"
    )


def _read_json_lines(path: Path, text: str) -> tuple[list[tuple[int, Any]], list[str]]:
    entries: list[tuple[int, Any]] = []
    skipped: list[str] = []
    for number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            entries.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            skipped.append(f"{path}: entry {number} (line {number + 1}): not valid JSON ({error.msg})")
    if not entries:
        raise DataError(f"annotation file {path} holds no valid JSON line")
    return entries, skipped


def text_field(entry: Any, names: Sequence[str], what: str) -> str:
    """The first of ``names`` in the entry as a non-empty string, else ``EntryError``."""
    if not isinstance(entry, dict):
        raise EntryError(f"expected a JSON object, found {type(entry).__name__}")
    for name in names:
        value = entry.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value is not None and not isinstance(value, str):
            raise EntryError(f"'{name}' must be a string, found {type(value).__name__}")
    raise EntryError(f"no {what} (looked for {', '.join(repr(n) for n in names)})")
