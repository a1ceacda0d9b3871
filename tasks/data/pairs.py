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
file and the line; a missing or unreadable file raises ``PairsFileError``. The writer writes the
``clip_id`` dialect: sorted keys, non-finite numbers as null, one line per pair, atomically.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from synpo_bench.api.errors import UserError
from synpo_bench.api.io import write_text_atomic
from synpo_bench.api.tasks import PreferencePair

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
    return PreferencePair(pair_id, prompt, chosen, rejected, 1.0, 0.0, {"source": "file"})


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


def _parse_line(line: str, number: int, dialect: _Dialect) -> PreferencePair:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise LineError(dialect.bad_json.format(msg=error.msg)) from None
    return dialect.parse(record, number)


def read_pairs_jsonl(path: Path, *, id_field: IdField = "clip_id") -> tuple[list[PreferencePair], list[str]]:
    """The well-formed pairs of a JSON Lines file and one message per skipped line (file and line).

    ``id_field`` names the dialect (see the module docstring). Raises ``PairsFileError`` when the file is
    missing or unreadable.
    """
    path = Path(path)
    dialect = _DIALECTS[id_field]
    pairs: list[PreferencePair] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(dialect.lines(_read_text(path)), start=1):
        if not line.strip():
            continue
        try:
            pair = _parse_line(line, number, dialect)
            if dialect.unique_ids and pair.clip_id in seen:
                raise LineError(f"duplicate id '{pair.clip_id}', the earlier line is kept")
        except LineError as error:
            skipped.append(dialect.where.format(path=path, line=number) + str(error))
            continue
        seen.add(pair.clip_id)
        pairs.append(pair)
    return pairs, skipped


def read_given_pairs(path: Path) -> tuple[list[PreferencePair], list[str]]:
    """``read_pairs_jsonl`` for a file given to train on (``--pairs``): one that holds not a single usable
    pair is refused (``PairsFileError``), naming the file, the count of bad lines and the first problem."""
    pairs, skipped = read_pairs_jsonl(path)
    if pairs:
        return pairs, skipped
    if not skipped:
        raise PairsFileError(f"preference file {path} holds no pair (it is empty); nothing to train on")
    raise PairsFileError(
        f"preference file {path} holds no usable pair: {len(skipped)} malformed line(s), the first at "
        f"{skipped[0]}"
    )
