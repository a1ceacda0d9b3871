"""Read a run folder into ``Results``, warning about every file that cannot be used.

Layout (docs/CONTRACTS.md): ``results/<run_id>/<task>/<loss>/seed<k>/{manifest.json, metrics.jsonl,
result.json}``, or ``<task>/<loss>/<setting label>/seed<k>/`` for a tuned run's cells (reports.tuning),
whose chosen settings ``reports.selection`` keeps. Reading never stops at a bad file: each problem
(corrupt or half-written JSON, a missing field, cells of one task trained under different configs)
becomes a warning that names the file, and the rest still aggregates. ``load_results`` returns the
warnings with the frames instead of printing them, so every output format can show them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TypeVar

import pandas as pd

from synpo_bench.reports.comparability import config_mismatches
from synpo_bench.reports.items import ITEM_SCORES_FILE, read_item_scores
from synpo_bench.reports.results import (
    COST_FIELDS,
    COST_PREFIX,
    IDENTITY_KEYS,
    QUALITY_PREFIX,
    SETTING,
    JsonObject,
    Results,
    ResultsError,
)
from synpo_bench.reports.selection import select_settings

Key = TypeVar("Key")
Row = dict[str, object]
"""One cell's row of ``Results.cells`` before it becomes a frame."""

_CELL_FILES = ("manifest.json", "result.json")


# ------------------------------------------------------------------------------------- finding a run


def resolve_run_dir(path: Path) -> Path:
    """``path`` itself when it is a run folder; otherwise its most recently active run folder."""
    if not path.exists():
        raise ResultsError(f"results folder '{path}' does not exist")
    if not path.is_dir():
        raise ResultsError(f"'{path}' is not a folder; give a results folder or one run folder in it")
    if _cell_folders(path):
        return path
    runs = [child for child in sorted(path.iterdir()) if child.is_dir() and _cell_folders(child)]
    if not runs:
        raise ResultsError(
            f"no results in '{path}': expected <run>/<task>/<loss>/seed<k>/ folders (run `synpo-bench run`)"
        )
    return max(runs, key=_last_activity)


def _cell_folders(run_dir: Path) -> list[Path]:
    """Shared cells (``task/loss/seed<k>``) and tuned ones (``task/loss/<label>/seed<k>``, a label always
    holding "=", a seed folder never)."""
    shared = [p for p in run_dir.glob("*/*/seed*") if "=" not in p.name]
    tuned = [p for p in run_dir.glob("*/*/*=*/seed*") if "=" not in p.name]
    return sorted(p for p in (*shared, *tuned) if p.is_dir())


def _place(folder: Path) -> tuple[str, str, str]:
    """(task, loss, setting label) of a cell folder; the label is "" for a shared cell."""
    if "=" in folder.parent.name:
        return folder.parent.parent.parent.name, folder.parent.parent.name, folder.parent.name
    return folder.parent.parent.name, folder.parent.name, ""


def _last_activity(run_dir: Path) -> float:
    """The newest manifest or result in the run: a resumed old run counts as recent."""
    times = [
        f.stat().st_mtime
        for cell in _cell_folders(run_dir)
        for name in _CELL_FILES
        if (f := cell / name).is_file()
    ]
    return max(times, default=run_dir.stat().st_mtime)


# ----------------------------------------------------------------------------------------- reading


def load_results(path: Path) -> Results:
    """Read every cell of a run folder (or of the newest run under a results folder)."""
    run_dir = resolve_run_dir(path)
    warnings: list[str] = []
    rows: list[Row] = []
    steps: list[pd.DataFrame] = []
    manifests: list[tuple[Path, JsonObject]] = []
    for folder in _cell_folders(run_dir):
        cell = _read_cell(folder, warnings)
        if cell is None:
            continue
        row, manifest = cell
        rows.append(row)
        if manifest is not None:
            manifests.append((folder / "manifest.json", manifest))
        curve = _read_metrics(folder / "metrics.jsonl", row, warnings)
        if curve is not None:
            steps.append(curve)
    if not rows:
        raise ResultsError(f"no readable cell in '{run_dir}'" + (f": {warnings[0]}" if warnings else ""))
    warnings += config_mismatches(manifests)
    cells = pd.DataFrame(rows).sort_values(["task", "loss", SETTING, "seed"], ignore_index=True)
    curves = (
        pd.concat(steps, ignore_index=True)
        if steps
        else pd.DataFrame(columns=[*IDENTITY_KEYS, "status", "step", "metric", "value", SETTING])
    )
    tasks = sorted(cells["task"].unique())
    start = {task: read_start_quality(run_dir / task, warnings) for task in tasks}
    items = _cell_items(cells, warnings)
    return select_settings(
        Results(
            run_dir=run_dir,
            cells=cells,
            steps=curves,
            warnings=warnings,
            start={task: quality for task, quality in start.items() if quality},
            items={(task, loss, seed): f for (task, loss, label, seed), f in items.items() if not label},
            setting_items={key: frame for key, frame in items.items() if key[2]},
            start_items=_present(
                {task: read_item_scores(run_dir / task / ITEM_SCORES_FILE, warnings) for task in tasks}
            ),
        )
    )


def _cell_items(cells: pd.DataFrame, warnings: list[str]) -> dict[tuple[str, str, str, int], pd.DataFrame]:
    """The per-example scores of every done cell that wrote them, by (task, loss, setting, seed)."""
    done = cells[cells["status"] == "done"]
    found = {
        (str(row.task), str(row.loss), str(row.setting), int(row.seed)): read_item_scores(
            Path(str(row.folder)) / ITEM_SCORES_FILE, warnings
        )
        for row in done.itertuples()
    }
    return _present(found)


def _present(frames: dict[Key, pd.DataFrame | None]) -> dict[Key, pd.DataFrame]:
    return {key: frame for key, frame in frames.items() if frame is not None}


def read_start_quality(task_dir: Path, warnings: list[str]) -> dict[str, float]:
    """The starting model's metrics the runner recorded for a task; empty when there are none."""
    path = task_dir / "task.json"
    if not path.is_file():
        return {}
    info = read_json_object(path, warnings) or {}
    quality = info.get("start_quality")
    if not isinstance(quality, dict):
        return {}
    return {
        str(name): float(value)
        for name, value in quality.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def read_json_object(path: Path, warnings: list[str]) -> JsonObject | None:
    """The JSON object in ``path``, or None with a warning naming the file and the problem."""
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        warnings.append(f"{path}: unreadable ({error}); skipped")
        return None
    except json.JSONDecodeError as error:
        warnings.append(
            f"{path}: corrupt or half-written JSON ({error.msg}: line {error.lineno} "
            f"column {error.colno}); skipped"
        )
        return None
    if not isinstance(payload, dict):
        warnings.append(f"{path}: expected a JSON object, found {type(payload).__name__}; skipped")
        return None
    return payload


def _read_cell(folder: Path, warnings: list[str]) -> tuple[Row, JsonObject | None] | None:
    seed = _seed_of(folder, warnings)
    if seed is None:
        return None
    manifest_path, result_path = folder / "manifest.json", folder / "result.json"
    if not manifest_path.exists() and not result_path.exists():
        warnings.append(f"{folder}: empty cell folder (no manifest.json, no result.json); skipped")
        return None
    manifest = read_json_object(manifest_path, warnings) if manifest_path.exists() else None
    if manifest is None and not manifest_path.exists():
        warnings.append(f"{manifest_path}: missing; this cell's config is not checked against the others")
    task, loss, setting = _place(folder)
    identity: Row = {"task": task, "loss": loss, "seed": seed}
    row: Row = {**identity, SETTING: setting, "status": "running", "folder": str(folder)}
    result = read_json_object(result_path, warnings) if result_path.exists() else None
    if result_path.exists():
        row["status"] = _status_of(result, result_path, warnings)
    if result is not None:
        row.update(_result_fields(result, result_path, str(row["status"]), warnings))
    for source, path in ((result, result_path), (manifest, manifest_path)):
        if source is not None:
            _check_identity(source, identity, path, warnings)
    row.update(_metadata(row, manifest or {}))
    config = (manifest or {}).get("config")
    row["data_seed"] = config.get("data_seed") if isinstance(config, dict) else None
    return row, manifest


def _seed_of(folder: Path, warnings: list[str]) -> int | None:
    try:
        return int(folder.name.removeprefix("seed"))
    except ValueError:
        warnings.append(f"{folder}: not a seed<k> folder name; skipped")
        return None


def _status_of(result: JsonObject | None, path: Path, warnings: list[str]) -> str:
    if result is None:
        return "corrupt"
    status = result.get("status")
    if status in ("done", "failed"):
        return str(status)
    warnings.append(f"{path}: status {status!r} is neither 'done' nor 'failed'; counted as corrupt")
    return "corrupt"


def _result_fields(result: JsonObject, path: Path, status: str, warnings: list[str]) -> Row:
    fields: Row = {}
    quality = result.get("quality")
    if isinstance(quality, dict):
        fields.update(_numbers(quality, QUALITY_PREFIX, path, "quality", warnings))
    elif status == "done":
        warnings.append(f"{path}: missing field 'quality'; this cell has no quality numbers")
    cost = result.get("cost")
    if isinstance(cost, dict):
        fields.update(
            _numbers(
                {k: v for k, v in cost.items() if k != "memory_kind"}, COST_PREFIX, path, "cost", warnings
            )
        )
        fields["memory_kind"] = cost.get("memory_kind")
        missing = [name for name in COST_FIELDS if name not in cost]
        if missing and status == "done":
            warnings.append(f"{path}: cost lacks {', '.join(missing)}; shown as missing")
    elif status == "done":
        warnings.append(f"{path}: missing field 'cost'; this cell has no cost numbers")
    budget = result.get("budget")
    fields["budget_reached"] = budget.get("reached") if isinstance(budget, dict) else None
    fields["error"] = _error_text(result.get("error"))
    for key in ("run_id", "synthetic", "judge", "ref_mode", "caption_metrics"):
        if key in result:
            fields[key] = result[key]
    return fields


def _numbers(
    values: JsonObject, prefix: str, path: Path, section: str, warnings: list[str]
) -> dict[str, float]:
    numbers: dict[str, float] = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            warnings.append(f"{path}: {section}.{name} is {value!r}, not a number; skipped")
            continue
        if math.isinf(value):  # JSON has no infinity: it would break every JSON and HTML report
            warnings.append(f"{path}: {section}.{name} is {value}, not a finite number; skipped")
            continue
        if math.isnan(value) and section == "quality":
            warnings.append(f"{path}: quality.{name} is NaN; left out of the mean")
        numbers[prefix + name] = float(value)
    return numbers


def _error_text(error: object) -> str | None:
    if not error:
        return None
    if isinstance(error, dict):
        step = error.get("step")
        reason = error.get("reason", "unknown reason")
        return f"{reason} (step {step})" if step is not None else str(reason)
    return str(error)


def _check_identity(source: JsonObject, identity: Row, path: Path, warnings: list[str]) -> None:
    for key, expected in identity.items():
        if key in source and str(source[key]) != str(expected):
            warnings.append(
                f"{path}: says {key}={source[key]!r} but lies in the folder of {key}={expected!r}; "
                "the folder wins"
            )


def _metadata(row: Row, manifest: JsonObject) -> Row:
    """Labels the report prints: the result's value when it has one, else the manifest's."""
    keys = ("run_id", "synthetic", "judge", "ref_mode", "caption_metrics", "started_at", "git_sha")
    return {key: row.get(key, manifest.get(key)) for key in keys}


def _read_metrics(path: Path, row: Row, warnings: list[str]) -> pd.DataFrame | None:
    if not path.exists():
        if row["status"] == "done":
            warnings.append(f"{path}: missing; no training curve for this cell")
        return None
    records, bad_lines = [], []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        warnings.append(f"{path}: unreadable ({error}); no training curve for this cell")
        return None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict) and "step" in record:
            records.append(record)
        else:
            bad_lines.append(number)
    if bad_lines:
        warnings.append(
            f"{path}: {len(bad_lines)} corrupt or half-written line(s) skipped "
            f"(line {', '.join(map(str, bad_lines[:5]))})"
        )
    if not records:
        return None
    frame = pd.DataFrame.from_records(records).apply(pd.to_numeric, errors="coerce")
    frame = frame.replace([math.inf, -math.inf], math.nan)  # dropped below, like a non-number
    long = frame.melt(id_vars="step", var_name="metric", value_name="value").dropna()
    for key in reversed((*IDENTITY_KEYS, "status")):
        long.insert(0, key, row[key])
    long[SETTING] = row[SETTING]  # last: a shared run's columns are the ones they always were
    return long
