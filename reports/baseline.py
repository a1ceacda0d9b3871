"""The regression gate: a run's quality means against a baseline file.

The baseline is a JSON report (``synpo-bench report --format json --out baseline.json``); only its
``tasks`` section is read: ``{"tasks": {task: {loss: {metric: mean}}}}``, so a hand-written file with just
that section works too. The current numbers are the same means the report prints (done seeds only).

A metric regresses when it fell by more than the tolerance. Quality metrics are higher-is-better, so a
rise never fails the gate. The tolerance is relative by default, because the metrics live on different
scales (caption metrics x100, CIDEr up to 1000, judge scores 0-5, accuracies 0-1 or %):

- relative (default): regression when ``baseline - current > tolerance * |baseline|``
  (0.02 = a fall of more than 2% of the baseline value);
- absolute: regression when ``baseline - current > tolerance``, in the metric's own units.

A noise baseline (format 2, ``reports/noise.py``: made by ``synpo-bench baseline`` from several runs) is
judged differently: each metric against its own measured noise, and only the headline metrics and the
cost ratios against dpo gate; the tolerance options do not apply to it.

A (task, loss) of the baseline whose cells crashed fails the gate (``GateResult.missing``): it has no cell in
the results, or more failed, corrupt or unfinished cells than the baseline's own run had (its ``status``
section; a hand-written baseline allows none), unless ``allow_missing`` turns that into a warning. A metric
present on one side only is a warning, never a failure or a crash; the gate refuses (``BaselineError``)
only when the baseline is unreadable or shares no task with the results.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from synpo_bench.api.errors import UserError
from synpo_bench.reports.noise import NOISE_FORMAT_VERSION, Outlier, input_mismatches, judge
from synpo_bench.reports.reading import load_results
from synpo_bench.reports.results import JsonObject, Results
from synpo_bench.reports.summaries import Means, quality_means

DEFAULT_TOLERANCE = 0.02
TOLERANCE_MODES = ("relative", "absolute")
SUPPORTED_FORMAT_VERSION = 2


class BaselineError(UserError):
    """The baseline file is missing or unusable, or shares nothing with the results."""


@dataclass(frozen=True)
class Regression:
    task: str
    loss: str
    metric: str
    baseline: float
    current: float

    @property
    def drop(self) -> float:
        return self.baseline - self.current

    def describe(self) -> str:
        relative = f", {-self.drop / abs(self.baseline):+.1%}" if self.baseline else ""
        return (
            f"{self.task}/{self.loss}/{self.metric}: baseline {self.baseline:.4g} -> "
            f"current {self.current:.4g} ({-self.drop:+.4g}{relative})"
        )


@dataclass
class GateResult:
    regressions: list[Regression | Outlier]
    warnings: list[str]
    compared: int
    tolerance: float
    mode: str
    passed_metrics: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Gated (task, loss) pairs the results cannot show (a crashed, corrupt or absent cell), named."""
    reported: list[Outlier] = field(default_factory=list)
    """Noise mode: metrics beyond their band that do not gate (not headline metrics)."""
    gated_compared: int = 0

    @property
    def passed(self) -> bool:
        return not self.regressions and not self.missing

    def rule(self) -> str:
        if self.mode == "noise":
            return (
                f"a headline metric or a cost ratio against dpo regresses when it falls by more than "
                f"{self.tolerance:g} standard deviations of its measured noise (at least 1% of its value; "
                f"forward passes: exact); {self.gated_compared} gated, the rest (speed vs dpo among them) "
                "reported"
            )
        if self.mode == "relative":
            return f"a fall of more than {self.tolerance:.4g} x |baseline| ({self.tolerance:.2%}) regresses"
        return f"a fall of more than {self.tolerance:.4g} (metric units) regresses"


def load_baseline(path: Path) -> tuple[Means, JsonObject, list[str]]:
    """The baseline's means, its whole payload (for metadata), and warnings about skipped entries."""
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        raise BaselineError(f"baseline file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"baseline file '{path}' is unreadable: {error}") from None
    except json.JSONDecodeError as error:
        raise BaselineError(
            f"baseline file '{path}' is not valid JSON ({error.msg} at line {error.lineno})"
        ) from None
    tasks = payload.get("tasks") if isinstance(payload, dict) else None
    if not isinstance(tasks, dict):
        raise BaselineError(
            f"baseline file '{path}' has no 'tasks' object; write one with "
            "`synpo-bench report RESULTS --format json --out FILE`"
        )
    warnings: list[str] = []
    version = payload.get("format_version", SUPPORTED_FORMAT_VERSION)
    if isinstance(version, int) and version > SUPPORTED_FORMAT_VERSION:
        warnings.append(
            f"{path}: format_version {version} is newer than this reader ({SUPPORTED_FORMAT_VERSION})"
        )
    return _numeric_means(tasks, path, warnings), payload, warnings


def _numeric_means(tasks: JsonObject, path: Path, warnings: list[str]) -> Means:
    means: Means = {}
    for task, losses in tasks.items():
        if not isinstance(losses, dict):
            warnings.append(f"{path}: tasks.{task} is not an object; skipped")
            continue
        for loss, metrics in losses.items():
            if not isinstance(metrics, dict):
                warnings.append(f"{path}: tasks.{task}.{loss} is not an object; skipped")
                continue
            for metric, value in metrics.items():
                if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
                    warnings.append(
                        f"{path}: tasks.{task}.{loss}.{metric} = {value!r} is not a number; skipped"
                    )
                    continue
                means.setdefault(task, {}).setdefault(loss, {})[metric] = float(value)
    return means


def compare(
    current: Means, baseline: Means, tolerance: float = DEFAULT_TOLERANCE, mode: str = "relative"
) -> GateResult:
    """Every (task, loss, metric) of the baseline against the current means."""
    if mode not in TOLERANCE_MODES:
        raise ValueError(f"tolerance mode '{mode}': choose one of {', '.join(TOLERANCE_MODES)}")
    if tolerance < 0 or math.isnan(tolerance):
        raise ValueError(f"tolerance {tolerance} must be a number >= 0")
    gate = GateResult([], _missing(current, baseline), 0, tolerance, mode)
    for task, losses in baseline.items():
        for loss, metrics in losses.items():
            for metric, expected in metrics.items():
                value = current.get(task, {}).get(loss, {}).get(metric)
                if value is None:
                    continue
                gate.compared += 1
                allowed = tolerance * abs(expected) if mode == "relative" else tolerance
                if math.isnan(value):
                    gate.warnings.append(f"{task}/{loss}/{metric}: current value is NaN; not compared")
                elif expected - value > allowed:
                    gate.regressions.append(Regression(task, loss, metric, expected, value))
                else:
                    gate.passed_metrics.append(f"{task}/{loss}/{metric}")
    return gate


def _missing(current: Means, baseline: Means) -> list[str]:
    """Warnings for whatever only one side has, at the coarsest level that says it."""
    warnings = []
    for side, have, other in (("results", current, baseline), ("baseline", baseline, current)):
        gated = "not gated" if side == "baseline" else "not checked"
        for task, losses in other.items():
            if task not in have:
                warnings.append(f"task '{task}' is missing from the {side}; {gated}")
                continue
            for loss, metrics in losses.items():
                if loss not in have[task]:
                    warnings.append(f"{task}/{loss} is missing from the {side}; {gated}")
                    continue
                warnings += [
                    f"{task}/{loss}/{metric} is missing from the {side}; {gated}"
                    for metric in metrics
                    if metric not in have[task][loss]
                ]
    return warnings


def check_results(
    results_path: Path,
    baseline_path: Path,
    tolerance: float = DEFAULT_TOLERANCE,
    mode: str = "relative",
    allow_missing: bool = False,
    band: float | None = None,
) -> tuple[GateResult, Results]:
    """Load a results folder and a baseline, and compare them; warnings of both loads are in the result.

    Gated losses whose cells crashed fail the gate, or are warnings with ``allow_missing``."""
    baseline, payload, baseline_warnings = load_baseline(baseline_path)
    results = load_results(results_path)
    if payload.get("format_version") == NOISE_FORMAT_VERSION and isinstance(payload.get("noise"), dict):
        gate = _noise_gate(results, baseline, payload, band)
    else:
        gate = compare(quality_means(results), baseline, tolerance, mode)
    problems = missing_cells(results, baseline, payload)
    if gate.compared == 0 and (not problems or not set(baseline) & set(results.tasks())):
        raise BaselineError(
            f"nothing to compare: no (task, loss, metric) of baseline '{baseline_path}' is in the results "
            f"of {results.run_dir}"
        )
    covered = {f"{task}/{loss} " for task, loss in problems} | {f"task '{task}' " for task, _ in problems}
    gate.warnings = [w for w in gate.warnings if not w.startswith(tuple(covered))]
    described = [f"{task}/{loss}: {what}" for (task, loss), what in problems.items()]
    if allow_missing:
        gate.warnings += [f"{line}; not checked (--allow-missing)" for line in described]
    else:
        gate.missing += described
    gate.warnings = (
        results.warnings + baseline_warnings + _data_kind_mismatches(results, payload) + gate.warnings
    )
    return gate, results


def _noise_gate(results: Results, baseline: Means, payload: JsonObject, band: float | None) -> GateResult:
    verdict = judge(results, payload, band)
    used = float(payload.get("band", 3.0)) if band is None else band  # type: ignore[arg-type]
    gate = GateResult(
        verdict.gated, _missing(quality_means(results), _without_costs(baseline)), 0, used, "noise"
    )
    gate.compared = verdict.compared
    gate.reported, gate.gated_compared = verdict.reported, verdict.gated_compared
    gate.missing = input_mismatches(payload, results)
    return gate


def _without_costs(baseline: Means) -> Means:
    """The baseline's quality metrics: its cost ratios (``cost:...``) are not in a run's quality means."""
    return {
        task: {
            loss: {m: v for m, v in metrics.items() if not m.startswith("cost:")}
            for loss, metrics in losses.items()
        }
        for task, losses in baseline.items()
    }


NOT_DONE = ("failed", "corrupt", "running")


def missing_cells(results: Results, baseline: Means, payload: JsonObject) -> dict[tuple[str, str], str]:
    """Per gated (task, loss) that the results cannot show, what is wrong: no cell at all, or more
    failed, corrupt or unfinished cells than the baseline's run had (a crash must not pass as "not
    checked")."""
    cells = results.cells
    problems: dict[tuple[str, str], str] = {}
    for task, losses in baseline.items():
        for loss in losses:
            mine = cells[(cells["task"] == task) & (cells["loss"] == loss)]
            if mine.empty:
                problems[(task, loss)] = "no cell in the results"
                continue
            bad = mine[mine["status"].isin(NOT_DONE)]
            if len(bad) > _baseline_not_done(payload, task, loss):
                problems[(task, loss)] = "; ".join(_describe_cell(row) for row in bad.to_dict("records"))
    return problems


def _baseline_not_done(payload: JsonObject, task: str, loss: str) -> int:
    """Failed, corrupt and unfinished cells the baseline's own run had (0 when it does not say)."""
    status = payload.get("status")
    by_task = status.get(task) if isinstance(status, dict) else None
    counts = by_task.get(loss) if isinstance(by_task, dict) else None
    if not isinstance(counts, dict):
        return 0
    values = (counts.get(kind) for kind in NOT_DONE)
    return sum(value for value in values if isinstance(value, int) and not isinstance(value, bool))


def _describe_cell(row: dict[str, object]) -> str:
    status, seed, error = row["status"], row["seed"], row.get("error")
    if status == "failed":
        return f"seed{seed} failed ({error if isinstance(error, str) else 'no reason recorded'})"
    if status == "corrupt":
        return f"seed{seed} has a corrupt result.json"
    return f"seed{seed} has no result.json (killed, or still running)"


def _data_kind_mismatches(results: Results, payload: JsonObject) -> list[str]:
    """A baseline from synthetic data says nothing about real data, and the other way round."""
    info = payload.get("task_info")
    if not isinstance(info, dict):
        return []
    warnings = []
    for task in results.tasks():
        recorded = info.get(task, {}).get("synthetic") if isinstance(info.get(task), dict) else None
        current = set(results.cells.loc[results.cells["task"] == task, "synthetic"].dropna())
        if recorded is not None and current and current != {recorded}:
            warnings.append(
                f"task '{task}': the baseline is from {'synthetic' if recorded else 'real'} data, "
                "the results are not; the comparison may be meaningless"
            )
    return warnings
