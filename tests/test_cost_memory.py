"""Peak memory in the cost record: allocated and reserved on a GPU (a fake CUDA device here), reset per
cell, both shown by ``synpo-bench report``; a CPU run's record and report stay as they were."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from synpo_bench.cli import app
from synpo_bench.costs import CostMeter, PeakMemory
from tests._results_factory import TASK, standard_run

MB = 2**20
runner = CliRunner()


class FakeCudaMemory:
    """torch.cuda's peak counters for one device: allocations move the current figures and the peaks;
    ``reset_peak_memory_stats`` sets the peaks to the current figures, as torch's does."""

    def __init__(self) -> None:
        self.allocated = self.reserved = self.peak_allocated = self.peak_reserved = 0
        self.resets: list[torch.device] = []

    def use(self, allocated_mb: int, reserved_mb: int) -> None:
        self.allocated, self.reserved = allocated_mb * MB, reserved_mb * MB
        self.peak_allocated = max(self.peak_allocated, self.allocated)
        self.peak_reserved = max(self.peak_reserved, self.reserved)

    def reset_peak_memory_stats(self, device: torch.device) -> None:
        self.resets.append(device)
        self.peak_allocated, self.peak_reserved = self.allocated, self.reserved

    def max_memory_allocated(self, device: torch.device) -> int:
        return self.peak_allocated

    def max_memory_reserved(self, device: torch.device) -> int:
        return self.peak_reserved


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> FakeCudaMemory:
    fake = FakeCudaMemory()
    for name in ("reset_peak_memory_stats", "max_memory_allocated", "max_memory_reserved"):
        monkeypatch.setattr(torch.cuda, name, getattr(fake, name))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    return fake


def _cell_cost(fake: FakeCudaMemory, device: torch.device, usage: list[tuple[int, int]]) -> dict:
    """One cell's cost record on the fake GPU: the cell's memory use happens inside its block."""
    meter = CostMeter(device)
    with PeakMemory(device) as peak:
        for allocated, reserved in usage:
            fake.use(allocated, reserved)
    return meter.summary(1.0, peak)


def test_cuda_records_peak_allocated_and_reserved_reset_per_cell(fake_cuda: FakeCudaMemory) -> None:
    device = torch.device("cuda", 0)
    fake_cuda.use(100, 200)  # the model, before any cell
    first = _cell_cost(fake_cuda, device, [(900, 1536), (300, 1536)])
    fake_cuda.use(100, 256)  # the first cell's tensors freed and its cache partly emptied
    second = _cell_cost(fake_cuda, device, [(400, 512), (150, 512)])
    assert fake_cuda.resets == [device, device]  # each cell starts from its own peaks
    assert (first["peak_memory_mb"], first["peak_reserved_mb"], first["memory_kind"]) == (900, 1536, "cuda")
    assert (second["peak_memory_mb"], second["peak_reserved_mb"]) == (400, 512)  # not the first cell's


def test_cpu_cost_record_keeps_its_keys() -> None:
    device = torch.device("cpu")
    with PeakMemory(device) as peak:
        pass
    cost = CostMeter(device).summary(1.0, peak)
    assert "peak_reserved_mb" not in cost and cost["memory_kind"] == "rss"
    assert list(cost) == [
        "wall_clock_s",
        "time_per_step_s",
        "tokens_per_s",
        "peak_memory_mb",
        "memory_kind",
        "forward_passes",
        "steps",
        "pairs_seen",
        "tokens",
        "data_s",
        "policy_forward_s",
        "reference_forward_s",
        "backward_s",
        "optimizer_s",
    ]


RESERVED_MB = {("dpo", 0): 768.0, ("dpo", 1): 800.0, ("simpo", 0): 640.0, ("simpo", 1): 640.0}
"""The standard run's done cells as if trained on a GPU: dpo reserved 784 MB on average, simpo 640 (0.82x)."""


def _as_gpu_run(run_dir: Path) -> None:
    """Every readable cell's cost as a GPU run writes it (the failed one's too; the corrupt one is left)."""
    for path in sorted(run_dir.glob("*/*/seed*/result.json")):
        try:
            result = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        reserved = RESERVED_MB.get((result["loss"], result["seed"]), 600.0)
        result["cost"].update(memory_kind="cuda", peak_reserved_mb=reserved)
        path.write_text(json.dumps(result))


def _report(run_dir: Path, output_format: str) -> str:
    result = runner.invoke(app, ["report", str(run_dir), "--format", output_format])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_report_shows_peak_allocated_and_reserved_when_recorded(tmp_path: Path) -> None:
    run_dir = standard_run(tmp_path / "results")
    _as_gpu_run(run_dir)
    text = _report(run_dir, "markdown")
    # the table is split at the page width; the memory columns sit side by side in its first part
    assert "| tokens/s | peak allocated (cuda) | peak reserved (cuda) |" in text
    assert "| 510 MB (1.00x) | 784 MB (1.00x) |" in text  # dpo: allocated as before, then reserved
    assert "| **400 MB (0.78x)** | **640 MB (0.82x)** |" in text  # simpo: lower, so bold
    cost = json.loads(_report(run_dir, "json"))["cost"][TASK]
    assert cost["simpo"]["peak_reserved_mb"]["mean"] == pytest.approx(640.0)
    assert cost["simpo"]["peak_reserved_mb"]["relative_to_dpo"] == pytest.approx(640 / 784)


def test_cpu_report_has_no_reserved_column(tmp_path: Path) -> None:
    run_dir = standard_run(tmp_path / "results")
    text = _report(run_dir, "markdown")
    assert "peak memory (rss)" in text and "reserved" not in text and "peak allocated" not in text
    assert "peak_reserved_mb" not in json.loads(_report(run_dir, "json"))["cost"][TASK]["dpo"]
