"""Preference-pair files (JSON Lines): the one reader and the one writer.

One object per line with the texts ``prompt``, ``chosen`` and ``rejected``, in two dialects that differ in
the id field (``read_pairs_jsonl(path, id_field=...)``):

- ``"clip_id"``, the pairs a run writes (``pairs.jsonl``, the pair cache) and reads (``--pairs``): a
  required non-empty ``clip_id``; optional ``chosen_score`` / ``rejected_score`` (a number, or null or
  absent: NaN) and a ``scores`` object. ``chosen`` / ``rejected`` may be empty (a model that stopped at
  once is a real, bad caption) but not the same text. Skip messages read ``file:line: reason``.
- ``"id"``, text preference data sets (the common ``{"prompt", "chosen", "rejected"}`` format): non-empty
  strings, an optional ``id`` (string or integer; else ``line-<n>``) unique within the file (a repeat is
  skipped, the earlier line kept), ``chosen`` and ``rejected`` different beyond surrounding whitespace;
  every pair scores 1.0 / 0.0. Skip messages read ``file: line n: reason``.

In both, blank lines are ignored and every other malformed line is skipped with one message naming the
file and the line; a missing or unreadable file raises ``PairsFileError``.

Data given to train on (``--pairs``, ``textpref --data-dir``) is read by ``read_pairs``: JSON Lines, a
parquet file or a ``datasets`` folder (``pair_tables``), each row in any of the common formats
(``pair_formats``: standard, implicit prompt, conversational, UltraFeedback-binarized) made standard
first; a skipped table row is named by its number from 0 (``file: row n: reason``). A text task's pairs
need no ``clip_id`` there (``RowReading``); in the ``id`` dialect, numeric ``chosen_score`` /
``rejected_score`` (or UltraFeedback's ``score_chosen`` / ``score_rejected``) replace 1.0 / 0.0.

The writer writes the ``clip_id`` dialect: sorted keys, non-finite numbers as null, one line per pair,
atomically.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from synpo_bench.api.chat import MessageRenderer, plain_render
from synpo_bench.api.errors import UserError
from synpo_bench.api.io import write_text_atomic
from synpo_bench.api.tasks import PreferencePair
from synpo_bench.tasks.data.pair_formats import RowError, standard_row
from synpo_bench.tasks.data.pair_tables import is_table, table_rows

IdField = Literal["clip_id", "id"]
REQUIRED_TEXT_FIELDS = ("clip_id", "prompt", "chosen", "rejected")
"""The string fields of the ``clip_id`` dialect."""
TEXT_FIELDS = ("prompt", "chosen", "rejected")
"""The string fields of the ``id`` dialect."""


class PairsFileError(ValueError, UserError):
    """A preference file or folder that cannot be used at all; the message names the path."""


class LineError(ValueError):
    """One malformed line: the reader skips it and records the reason."""


# ------------------------------------------------------------------------------------------- writing


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def pair_to_json(pair: PreferencePair) -> str:
    record = {
        "clip_id": pair.clip_id,
        "prompt": pair.prompt,
        "chosen": pair.chosen,
        "rejected": pair.rejected,
        "chosen_score": pair.chosen_score,
        "rejected_score": pair.rejected_score,
        "scores": dict(pair.scores),
    }
    return json.dumps(_finite_or_none(record), ensure_ascii=False, allow_nan=False, sort_keys=True)


def write_pairs_jsonl(path: Path, pairs: Sequence[PreferencePair]) -> None:
    """One JSON object per pair (clip id, prompt, chosen, rejected, scores), written atomically."""
    write_text_atomic(Path(path), "".join(pair_to_json(pair) + "\n" for pair in pairs))


# ------------------------------------------------------------------------------ the clip_id dialect


def parse_pair(record: Any) -> PreferencePair:
    """A pair of the ``clip_id`` dialect from one decoded JSON line; ``LineError`` says what is wrong."""
    if not isinstance(record, dict):
        raise LineError(f"expected a JSON object, got {type(record).__name__}")
    texts = {}
    for name in REQUIRED_TEXT_FIELDS:
        value = record.get(name)
        if not isinstance(value, str):
            raise LineError(f"field '{name}' is missing or not a string")
        # An empty response is a real (bad) caption, a model that stopped at once; an empty id is not.
        if name in ("clip_id", "prompt") and not value.strip():
            raise LineError(f"field '{name}' is empty")
        texts[name] = value
    if texts["chosen"] == texts["rejected"]:
        raise LineError("'chosen' and 'rejected' are the same text")
    numbers = {}
    for name in ("chosen_score", "rejected_score"):
        value = record.get(name)
        if value is None:
            numbers[name] = math.nan
        elif isinstance(value, int | float) and not isinstance(value, bool):
            numbers[name] = float(value)
        else:
            raise LineError(f"field '{name}' must be a number or null")
    scores = record.get("scores", {})
    if not isinstance(scores, dict):
        raise LineError("field 'scores' must be a JSON object")
    return PreferencePair(scores=scores, **texts, **numbers)


# ----------------------------------------------------------------------------------- the id dialect


def _text_field(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        raise LineError(f"missing '{name}'")
    if not isinstance(value, str):
        raise LineError(f"'{name}' must be a string, found {type(value).__name__}")
    if not value.strip():
        raise LineError(f"'{name}' is empty")
    return value


def _pair_id(record: dict[str, Any], line_number: int) -> str:
    raw = record.get("id")
    if raw is None:
        return f"line-{line_number}"
    if isinstance(raw, bool) or not isinstance(raw, (str, int)) or not str(raw).strip():
        raise LineError("'id' must be a non-empty string or an integer")
    return str(raw).strip()


def parse_text_pair(record: Any, line_number: int) -> PreferencePair:
    """A pair of the ``id`` dialect from one decoded JSON line; ``LineError`` says what is wrong."""
    if not isinstance(record, dict):
        raise LineError(f"expected a JSON object, found {type(record).__name__}")
    prompt, chosen, rejected = (_text_field(record, name) for name in TEXT_FIELDS)
    if chosen.strip() == rejected.strip():
        raise LineError("'chosen' and 'rejected' are the same text")
    pair_id = _pair_id(record, line_number)
    scores = [record.get(name) for name in ("chosen_score", "rejected_score")]  # e.g. UltraFeedback's
    given = [float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None for v in scores]
    chosen_score = 1.0 if given[0] is None else given[0]
    rejected_score = 0.0 if given[1] is None else given[1]
    return PreferencePair(pair_id, prompt, chosen, rejected, chosen_score, rejected_score, {"source": "file"})


# ------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Dialect:
    """What differs between the two dialects beyond the record itself."""

    parse: Callable[[Any, int], PreferencePair]
    lines: Callable[[str], Iterable[str]]
    """The file's lines. The run's files end lines at "\\n" only (a caption may hold U+2028); data sets
    at every line break ``str.splitlines`` knows, as each reader did before they were merged."""
    where: str
    """Where a skip message points: formatted with ``path`` and ``line``."""
    bad_json: str
    unique_ids: bool


_DIALECTS: dict[str, _Dialect] = {
    "clip_id": _Dialect(
        parse=lambda record, _line_number: parse_pair(record),
        lines=io.StringIO,  # splits at "\n" only and keeps it, as iterating the file did
        where="{path}:{line}: ",
        bad_json="invalid JSON ({msg})",
        unique_ids=False,
    ),
    "id": _Dialect(
        parse=parse_text_pair,
        lines=str.splitlines,
        where="{path}: line {line}: ",
        bad_json="not valid JSON ({msg})",
        unique_ids=True,
    ),
}


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise PairsFileError(f"preference file {path} does not exist")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PairsFileError(f"cannot read preference file {path}: {error}") from error


@dataclass(frozen=True)
class RowReading:
    """How rows of a data set given to train on are read: any format ``pair_formats`` knows (a
    conversation's prompt rendered by ``render``), and whether a pair needs a ``clip_id`` (a video task's)
    or may go without one (a text task's: its ``id``, else ``row-<n>``)."""

    render: MessageRenderer = plain_render
    need_clip_id: bool = True


Entry = tuple[str, int, Any]
"""Where a row is (the skip message's start), its number, and the decoded row or the ``LineError``."""


def _jsonl_entries(path: Path, dialect: _Dialect) -> Iterator[Entry]:
    for number, line in enumerate(dialect.lines(_read_text(path)), start=1):
        if not line.strip():
            continue
        try:
            record: Any = json.loads(line)
        except json.JSONDecodeError as error:
            record = LineError(dialect.bad_json.format(msg=error.msg))
        yield dialect.where.format(path=path, line=number), number, record


def _table_entries(path: Path) -> Iterator[Entry]:
    for number, row in enumerate(table_rows(path)):
        yield f"{path}: row {number}: ", number, row


def _prepared(record: Any, number: int, id_field: IdField, reading: RowReading | None) -> Any:
    """A row in the dialect's standard form: as it is for the run's own files (``reading`` None)."""
    if reading is None or isinstance(record, LineError):
        return record
    try:
        record = standard_row(record, reading.render)
    except RowError as error:
        return LineError(str(error))
    no_clip = isinstance(record, dict) and record.get("clip_id") is None
    if id_field == "clip_id" and not reading.need_clip_id and no_clip:
        record["clip_id"] = str(record.get("id") or f"row-{number}")
    return record


def _collect(
    entries: Iterable[Entry], id_field: IdField, reading: RowReading | None
) -> tuple[list[PreferencePair], list[str]]:
    dialect = _DIALECTS[id_field]
    pairs: list[PreferencePair] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for where, number, record in entries:
        try:
            record = _prepared(record, number, id_field, reading)
            if isinstance(record, LineError):
                raise record
            pair = dialect.parse(record, number)
            if dialect.unique_ids and pair.clip_id in seen:
                raise LineError(f"duplicate id '{pair.clip_id}', the earlier line is kept")
        except LineError as error:
            skipped.append(where + str(error))
            continue
        seen.add(pair.clip_id)
        pairs.append(pair)
    return pairs, skipped


def read_pairs_jsonl(
    path: Path, *, id_field: IdField = "clip_id", reading: RowReading | None = None
) -> tuple[list[PreferencePair], list[str]]:
    """The well-formed pairs of a JSON Lines file and one message per skipped line (file and line).

    ``id_field`` names the dialect (see the module docstring); ``reading`` also takes the other formats
    (``pair_formats``; None: the standard one alone, as the run's own files are). Raises
    ``PairsFileError`` when the file is missing or unreadable.
    """
    path = Path(path)
    return _collect(_jsonl_entries(path, _DIALECTS[id_field]), id_field, reading)


def read_pairs(
    path: Path, *, id_field: IdField, reading: RowReading
) -> tuple[list[PreferencePair], list[str]]:
    """``read_pairs_jsonl`` for any preference data: JSON Lines, a parquet file or a data set folder
    (``pair_tables``); a skipped table row is named by its number from 0."""
    path = Path(path)
    if not path.exists():
        raise PairsFileError(f"preference file {path} does not exist")
    if is_table(path):
        return _collect(_table_entries(path), id_field, reading)
    if path.is_dir():
        raise PairsFileError(f"{path} is a folder, but not one saved by datasets' save_to_disk")
    return read_pairs_jsonl(path, id_field=id_field, reading=reading)


def read_given_pairs(path: Path, reading: RowReading | None = None) -> tuple[list[PreferencePair], list[str]]:
    """The pairs given to train on (``--pairs``), in any format ``read_pairs`` takes: a file that holds not
    a single usable pair is refused (``PairsFileError``), naming it, the count of bad rows and the first
    problem."""
    pairs, skipped = read_pairs(path, id_field="clip_id", reading=reading or RowReading())
    if pairs:
        return pairs, skipped
    if not skipped:
        raise PairsFileError(f"preference file {path} holds no pair (it is empty); nothing to train on")
    raise PairsFileError(
        f"preference file {path} holds no usable pair: {len(skipped)} malformed line(s), the first at "
        f"{skipped[0]}"
    )
