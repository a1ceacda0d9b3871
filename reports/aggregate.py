"""Read a results folder into pandas frames, and summarise it over seeds.

Layout (docs/CONTRACTS.md): ``results/<run_id>/<task>/<loss>/seed<k>/{manifest.json, metrics.jsonl,
result.json}``. Reading never stops at a bad file: each problem (corrupt or half-written JSON, a missing
field, cells of one task trained under different configs) becomes a warning that names the file, and
the rest still aggregates. ``load_results`` returns the warnings with the frames instead of printing
them, so every output format can show them.

Frames:
- ``Results.cells``: one row per cell; ``status`` is done, failed, running (a manifest but no
  result.json yet: still training, or killed) or corrupt (an unreadable result.json). Quality metrics are
  columns ``quality:<metric>``, cost fields ``cost:<field>``.
- ``Results.steps``: long form, one row per (cell, optimizer step, metric) from metrics.jsonl, for curves:
  columns task, loss (the loss's name), seed, status, step, metric (e.g. "loss", "margin"), value.

Summaries over seeds use done cells only: a failed or unfinished cell has no comparable final numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synpo_bench.api.errors import UserError

CELL_STATUSES = ("done", "failed", "running", "corrupt")
QUALITY_PREFIX = "quality:"
COST_PREFIX = "cost:"
REFERENCE_LOSS = "dpo"
"""Costs are also shown relative to this loss when the run has it."""

COST_FIELDS: dict[str, bool] = {
    "time_per_step_s": False,
    "wall_clock_s": False,
    "tokens_per_s": True,
    "peak_memory_mb": False,
    "forward_passes": False,
}
"""The cost fields the report shows, each mapped to whether higher is better."""

CONFIDENCE = 0.95
INTERVAL_METHOD = (
    "mean ± 95% Student t-interval over seeds: t(0.975, n-1)·s/√n with s the sample standard deviation; "
    "n=1: mean only, no interval"
)

_IDENTITY_KEYS = ("task", "loss", "seed")
_CONFIG_IGNORED_KEYS = frozenset({"seed", "seeds", "loss", "losses"})
_CELL_FILES = ("manifest.json", "result.json")


class ResultsError(UserError):
    """The results folder cannot be reported on at all (missing, or holding no cell)."""


@dataclass
class Results:
    """Everything read from one run folder."""

    run_dir: Path
    cells: pd.DataFrame
    steps: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    start: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per task, the starting model's quality (from ``<task>/task.json``), before any preference training."""

    @property
    def run_id(self) -> str:
        ids = self.cells["run_id"].dropna().unique() if "run_id" in self.cells else []
        return str(ids[0]) if len(ids) == 1 else self.run_dir.name

    def tasks(self) -> list[str]:
        return sorted(self.cells["task"].unique())

    def losses(self, task: str) -> list[str]:
        return ordered_losses(self.cells.loc[self.cells["task"] == task, "loss"].unique())

    def quality_metrics(self, task: str) -> list[str]:
        """Quality metrics any cell of ``task`` reported, in the order they first appear."""
        rows = self.cells[self.cells["task"] == task]
        columns = [c for c in self.cells.columns if c.startswith(QUALITY_PREFIX) and rows[c].notna().any()]
        return [c.removeprefix(QUALITY_PREFIX) for c in columns]

    def done(self) -> pd.DataFrame:
        return self.cells[self.cells["status"] == "done"]


def ordered_losses(losses: Iterable[str]) -> list[str]:
    """The reference loss first (costs are relative to it), the others alphabetically."""
    return sorted(set(losses), key=lambda name: (name != REFERENCE_LOSS, name))


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
    return sorted(p for p in run_dir.glob("*/*/seed*") if p.is_dir())


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
    rows: list[dict[str, Any]] = []
    steps: list[pd.DataFrame] = []
    manifests: list[tuple[Path, dict[str, Any]]] = []
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
    cells = pd.DataFrame(rows).sort_values(["task", "loss", "seed"], ignore_index=True)
    curves = (
        pd.concat(steps, ignore_index=True)
        if steps
        else pd.DataFrame(columns=[*_IDENTITY_KEYS, "status", "step", "metric", "value"])
    )
    start = {task: read_start_quality(run_dir / task, warnings) for task in sorted(cells["task"].unique())}
    return Results(
        run_dir=run_dir,
        cells=cells,
        steps=curves,
        warnings=warnings,
        start={task: quality for task, quality in start.items() if quality},
    )


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


def _read_cell(folder: Path, warnings: list[str]) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
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
    identity = {"task": folder.parent.parent.name, "loss": folder.parent.name, "seed": seed}
    row: dict[str, Any] = {**identity, "status": "running", "folder": str(folder)}
    result = read_json_object(result_path, warnings) if result_path.exists() else None
    if result_path.exists():
        row["status"] = _status_of(result, result_path, warnings)
    if result is not None:
        row.update(_result_fields(result, result_path, row["status"], warnings))
    for source, path in ((result, result_path), (manifest, manifest_path)):
        if source is not None:
            _check_identity(source, identity, path, warnings)
    row.update(_metadata(row, manifest or {}))
    return row, manifest


def _seed_of(folder: Path, warnings: list[str]) -> int | None:
    try:
        return int(folder.name.removeprefix("seed"))
    except ValueError:
        warnings.append(f"{folder}: not a seed<k> folder name; skipped")
        return None


def read_json_object(path: Path, warnings: list[str]) -> dict[str, Any] | None:
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


def _status_of(result: dict[str, Any] | None, path: Path, warnings: list[str]) -> str:
    if result is None:
        return "corrupt"
    status = result.get("status")
    if status in ("done", "failed"):
        return status
    warnings.append(f"{path}: status {status!r} is neither 'done' nor 'failed'; counted as corrupt")
    return "corrupt"


def _result_fields(result: dict[str, Any], path: Path, status: str, warnings: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
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
    values: dict[str, Any], prefix: str, path: Path, section: str, warnings: list[str]
) -> dict[str, float]:
    numbers: dict[str, float] = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            warnings.append(f"{path}: {section}.{name} is {value!r}, not a number; skipped")
            continue
        if math.isnan(value) and section == "quality":
            warnings.append(f"{path}: quality.{name} is NaN; left out of the mean")
        numbers[prefix + name] = float(value)
    return numbers


def _error_text(error: Any) -> str | None:
    if not error:
        return None
    if isinstance(error, dict):
        step = error.get("step")
        reason = error.get("reason", "unknown reason")
        return f"{reason} (step {step})" if step is not None else str(reason)
    return str(error)


def _check_identity(
    source: dict[str, Any], identity: dict[str, Any], path: Path, warnings: list[str]
) -> None:
    for key, expected in identity.items():
        if key in source and str(source[key]) != str(expected):
            warnings.append(
                f"{path}: says {key}={source[key]!r} but lies in the folder of {key}={expected!r}; "
                "the folder wins"
            )


def _metadata(row: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """Labels the report prints: the result's value when it has one, else the manifest's."""
    keys = ("run_id", "synthetic", "judge", "ref_mode", "caption_metrics", "started_at", "git_sha")
    return {key: row.get(key, manifest.get(key)) for key in keys}


def _read_metrics(path: Path, row: dict[str, Any], warnings: list[str]) -> pd.DataFrame | None:
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
    long = frame.melt(id_vars="step", var_name="metric", value_name="value").dropna()
    for key in reversed((*_IDENTITY_KEYS, "status")):
        long.insert(0, key, row[key])
    return long


# ------------------------------------------------------------------------------ comparable configs


def config_mismatches(manifests: Sequence[tuple[Path, dict[str, Any]]]) -> list[str]:
    """One warning per cell whose config differs from the rest of its task (seed and loss aside)."""
    by_task: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for path, manifest in manifests:
        by_task.setdefault(path.parent.parent.parent.name, []).append((path, _comparable(manifest)))
    warnings = []
    for task, entries in by_task.items():
        groups: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
        for path, settings in entries:
            groups.setdefault(json.dumps(settings, sort_keys=True, default=str), []).append((path, settings))
        if len(groups) < 2:
            continue
        majority = max(groups.values(), key=len)  # the first largest group, in folder order
        reference_path, reference = majority[0]
        for group in groups.values():
            if group is majority:
                continue
            for path, settings in group:
                keys = sorted(
                    k for k in reference.keys() | settings.keys() if reference.get(k) != settings.get(k)
                )
                warnings.append(
                    f"{path}: config differs from the other cells of task '{task}' "
                    f"(e.g. {reference_path}) in {', '.join(keys)}; their comparison may be unfair"
                )
    return warnings


def _comparable(manifest: dict[str, Any]) -> dict[str, Any]:
    """The settings that must match across a task's cells, flattened to dotted keys."""
    config = manifest.get("config")
    settings = {
        "config": {k: v for k, v in config.items() if k not in _CONFIG_IGNORED_KEYS}
        if isinstance(config, dict)
        else config,
        "budget": manifest.get("budget"),
        "data_hash": manifest.get("data_hash"),
    }
    return _flatten(settings)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


# ------------------------------------------------------------------------------ statistics over seeds


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with the half-width of its confidence interval (None when n < 2)."""

    mean: float
    half_width: float | None
    n: int
    std: float | None

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Student t-interval of the mean: seeds are few, so the normal 1.96 would be far too narrow."""
    data = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    n = len(data)
    if n == 0:
        return Interval(math.nan, None, 0, None)
    if n == 1:
        return Interval(float(data[0]), None, 1, None)
    std = float(data.std(ddof=1))
    half = student_t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Interval(float(data.mean()), half, n, std)


def student_t_quantile(probability: float, df: int) -> float:
    """The ``probability`` quantile of Student's t with ``df`` degrees of freedom (bisection on the CDF)."""
    if not 0.5 <= probability < 1 or df < 1:
        raise ValueError("student_t_quantile needs 0.5 <= probability < 1 and df >= 1")
    low, high = 0.0, 1.0
    while _student_t_cdf(high, df) < probability:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if _student_t_cdf(middle, df) < probability else (low, middle)
    return (low + high) / 2


def _student_t_cdf(t: float, df: int) -> float:
    """P(T <= t) for t >= 0, through the regularised incomplete beta function."""
    return 1 - 0.5 * _regularized_beta(df / (df + t * t), df / 2, 0.5)


def _regularized_beta(x: float, a: float, b: float) -> float:
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):  # the continued fraction converges fast on this side
        return math.exp(log_front) * _beta_continued_fraction(x, a, b) / a
    return 1 - math.exp(log_front) * _beta_continued_fraction(1 - x, b, a) / b


def _beta_continued_fraction(x: float, a: float, b: float) -> float:
    """Lentz's method for the incomplete beta continued fraction (Numerical Recipes, betacf)."""
    tiny = 1e-300

    def guard(value: float) -> float:
        return value if abs(value) > tiny else tiny

    c, d = 1.0, 1 / guard(1 - (a + b) * x / (a + 1))
    result = d
    for m in range(1, 500):
        even = m * (b - m) * x / ((a - 1 + 2 * m) * (a + 2 * m))
        d, c = 1 / guard(1 + even * d), guard(1 + even / c)
        result *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1 + 2 * m))
        d, c = 1 / guard(1 + odd * d), guard(1 + odd / c)
        result *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return result


# ---------------------------------------------------------------------------------------- summaries


def quality_summary(results: Results) -> pd.DataFrame:
    """One row per (task, loss, metric): n, mean, std, ci_half, ci_low, ci_high, best (highest mean)."""
    rows = []
    done = results.done()
    for task in results.tasks():
        for loss in results.losses(task):
            cells = done[(done["task"] == task) & (done["loss"] == loss)]
            for metric in results.quality_metrics(task):
                column = QUALITY_PREFIX + metric
                values = cells[column].tolist() if column in cells else []
                interval = t_interval(values)
                rows.append(
                    {
                        "task": task,
                        "loss": loss,
                        "metric": metric,
                        "n": interval.n,
                        "mean": interval.mean,
                        "std": interval.std,
                        "ci_half": interval.half_width,
                        "ci_low": interval.low,
                        "ci_high": interval.high,
                    }
                )
    frame = pd.DataFrame(
        rows, columns=["task", "loss", "metric", "n", "mean", "std", "ci_half", "ci_low", "ci_high"]
    )
    frame["best"] = _best_flags(frame, ["task", "metric"], higher_is_better=lambda _: True)
    return frame


def cost_summary(results: Results) -> pd.DataFrame:
    """One row per (task, loss, cost field): n, mean over done seeds, relative_to_dpo, best."""
    rows = []
    done = results.done()
    for task in results.tasks():
        task_cells = done[done["task"] == task]
        for loss in results.losses(task):
            cells = task_cells[task_cells["loss"] == loss]
            for name in COST_FIELDS:
                values = cells[COST_PREFIX + name].dropna() if COST_PREFIX + name in cells else pd.Series()
                rows.append(
                    {
                        "task": task,
                        "loss": loss,
                        "field": name,
                        "n": len(values),
                        "mean": float(values.mean()) if len(values) else math.nan,
                    }
                )
    frame = pd.DataFrame(rows, columns=["task", "loss", "field", "n", "mean"])
    reference = frame[frame["loss"] == REFERENCE_LOSS].set_index(["task", "field"])["mean"].to_dict()
    frame["relative_to_dpo"] = [
        mean / reference[(task, name)] if reference.get((task, name)) else math.nan
        for task, name, mean in zip(frame["task"], frame["field"], frame["mean"], strict=True)
    ]
    frame["best"] = _best_flags(frame, ["task", "field"], higher_is_better=COST_FIELDS.get)
    return frame


def _best_flags(frame: pd.DataFrame, group: list[str], higher_is_better: Any) -> pd.Series:
    """True on the row(s) with the best mean of each group (ties all marked)."""
    flags = pd.Series(False, index=frame.index)
    for key, rows in frame.groupby(group, sort=False):
        means = rows["mean"].dropna()
        if means.empty:
            continue
        target = means.max() if higher_is_better(key[-1]) else means.min()
        flags[means.index[np.isclose(means, target, rtol=1e-12, atol=0)]] = True
    return flags


def status_summary(results: Results) -> pd.DataFrame:
    """Cells per status for each (task, loss)."""
    counts = results.cells.groupby(["task", "loss"])["status"].value_counts().unstack(fill_value=0)
    counts = counts.reindex(columns=list(CELL_STATUSES), fill_value=0).reset_index()
    counts.columns.name = None
    return counts


def problem_cells(results: Results) -> list[str]:
    """One line per cell that is not done, saying why."""
    lines = []
    for row in results.cells[results.cells["status"] != "done"].itertuples():
        where = f"{row.task}/{row.loss}/seed{row.seed}"
        if row.status == "failed":
            lines.append(f"{where} failed: {getattr(row, 'error', None) or 'no reason recorded'}")
        elif row.status == "running":
            lines.append(f"{where} running (manifest but no result.json: still training, or killed)")
        else:
            lines.append(f"{where} corrupt result.json (see warnings)")
    return lines


def quality_means(results: Results) -> dict[str, dict[str, dict[str, float]]]:
    """``{task: {loss: {metric: mean over done seeds}}}``: the baseline file's ``tasks`` section."""
    means: dict[str, dict[str, dict[str, float]]] = {}
    for row in quality_summary(results).itertuples():
        if row.n > 0:
            means.setdefault(row.task, {}).setdefault(row.loss, {})[row.metric] = float(row.mean)
    return means
