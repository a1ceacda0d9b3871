"""Per-example scores (``item_scores.jsonl``, docs/CONTRACTS.md) as frames, for paired comparisons.

Each line is ``{"clip_id", "dimension", "scores": {metric: value}}``; the frame has one row per line,
indexed by (clip_id, dimension, occurrence) so a key repeated in one file stays a distinct item, and one
column per metric (NaN where an example does not carry the metric, e.g. VDC's per-dimension metrics).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

ITEM_SCORES_FILE = "item_scores.jsonl"
ITEM_KEYS = ("clip_id", "dimension", "occurrence")

ItemKey = tuple[str, str, int]


def read_item_scores(path: Path, warnings: list[str]) -> pd.DataFrame | None:
    """The per-example scores in ``path``; None (with a warning unless absent) when unusable."""
    if not path.is_file():
        return None
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        warnings.append(f"{path}: unreadable ({error}); no paired comparison for it")
        return None
    rows, bad = [], []
    for number, line in enumerate(lines, start=1):
        row = _row(line)
        if row is None:
            bad.append(number)
        else:
            rows.append(row)
    if bad:
        warnings.append(
            f"{path}: {len(bad)} unreadable line(s) (line {', '.join(map(str, bad[:5]))}); "
            "no paired comparison for it"
        )
        return None
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    frame["occurrence"] = frame.groupby(["clip_id", "dimension"]).cumcount()
    return frame.set_index(list(ITEM_KEYS)).astype(float)


def _row(line: str) -> dict[str, object] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("scores"), dict):
        return None
    scores = record["scores"]
    values = {
        str(k): float(v)
        for k, v in scores.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    return {"clip_id": str(record.get("clip_id")), "dimension": str(record.get("dimension")), **values}
