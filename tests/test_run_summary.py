"""The end-of-run summary `synpo-bench run` prints, drawn by the report's code (reports/run_summary.py) over
the fake results folders of tests/_results_factory.py; numbers as in tests/test_reports.py."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from synpo_bench.api.registry import UnknownNameError
from synpo_bench.reports import report as report_module
from synpo_bench.reports.run_summary import run_summary
from tests._results_factory import TASK, standard_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return standard_run(tmp_path / "results")


@dataclass(frozen=True)
class CellName:
    task: str
    loss: str
    seed: int


STANDARD_CELLS = [CellName(TASK, "dpo", s) for s in (0, 1, 2)] + [
    CellName(TASK, "simpo", s) for s in range(4)
]


class FakeTask:
    headline = ("CIDEr", "fact_accuracy")  # fact_accuracy was not measured: no column


def summary_text(parts: list) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    for part in parts:
        console.print(part)
    return console.file.getvalue()


def test_run_summary_draws_the_reports_numbers(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "get_task", lambda name: FakeTask)
    (run_dir / TASK / "task.json").write_text(json.dumps({"start_quality": {"CIDEr": 12.3456}}))
    text = summary_text(run_summary(run_dir, STANDARD_CELLS, cached=[CellName(TASK, "dpo", 0)]))
    assert "vatex: summary (higher quality is better) [synthetic data]" in text  # printed, not markup
    header = next(line for line in text.splitlines() if "loss" in line and "CIDEr" in line)
    assert [h.strip() for h in header.strip("┃│ ").split("┃")] == [
        "loss",
        "CIDEr",
        "win_rate",
        "time/step",
        "tokens/s",
        "peak memory",
        "cells",
    ]
    simpo = next(line for line in text.splitlines() if "│ simpo" in line)
    # the same text as the report's cells (test_markdown_shows_mean_ci_best_status_and_labels)
    for cell in ("28.00 ± 25.41", "41.0 ms", "1,350", "400 MB", "2 done, 1 failed, 1 corrupt"):
        assert cell in simpo
    dpo = next(line for line in text.splitlines() if "│ dpo" in line)
    assert "21.00 ± 12.71" in dpo and "2 done, 1 running (1 cached)" in dpo
    start = next(line for line in text.splitlines() if "(start)" in line)
    assert [c.strip() for c in start.strip("│ ").split("│")] == [
        "(start)",
        "12.35",
        *["-"] * 5,
    ]
    assert "2 warning(s) reading" in text


def test_run_summary_shows_only_this_runs_cells(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unknown(name: str) -> type:
        raise UnknownNameError(name)

    monkeypatch.setattr(report_module, "get_task", unknown)
    text = summary_text(run_summary(run_dir, [CellName(TASK, "simpo", 0), CellName(TASK, "simpo", 2)]))
    simpo = next(line for line in text.splitlines() if "│ simpo" in line)
    assert "30.00 (n=1)" in simpo and "9.00 (n=1)" in simpo  # unknown task: its first metrics
    assert "1 done, 1 failed" in simpo and "corrupt" not in simpo
    assert "│ dpo" not in text
    elsewhere = summary_text(run_summary(run_dir.parent / "nope", STANDARD_CELLS))
    assert elsewhere.startswith("no summary: results folder")
