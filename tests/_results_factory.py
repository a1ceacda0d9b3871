"""Fake results folders in the layout of docs/CONTRACTS.md, written as real JSON files.

``standard_run`` is the scenario the report tests check by hand:

    task vatex, run run-fake; quality values per seed (seed0, seed1):
      dpo    CIDEr 20, 22   BLEU-4 10, 14   -> CIDEr 21 ± 12.71   BLEU-4 12 ± 25.41 (best)
      simpo  CIDEr 30, 26   BLEU-4  9, 11   -> CIDEr 28 ± 25.41 (best)   BLEU-4 10 ± 12.71
    with t(0.975, 1) = 12.7062: half-width = 12.7062 · s / √2, s = √2 or 2√2.
    cost (mean of the two done seeds): dpo time/step 52 ms, simpo 41 ms (0.79x dpo); tokens/s 1050 vs
    1350 (1.29x); peak memory 510 vs 400 MB (0.78x); forward passes 20 vs 10 (0.50x)
    plus dpo/seed2 running (manifest, half-written metrics.jsonl), simpo/seed2 failed at step 3,
    simpo/seed3 with a corrupt (half-written) result.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RUN_ID = "run-fake"
TASK = "vatex"
CONFIG = {"budget": {"kind": "steps", "value": 4}, "train": {"lr": 0.0005, "batch_size": 16}, "size": "tiny"}

QUALITY = {
    ("dpo", 0): {"BLEU-4": 10.0, "CIDEr": 20.0},
    ("dpo", 1): {"BLEU-4": 14.0, "CIDEr": 22.0},
    ("simpo", 0): {"BLEU-4": 9.0, "CIDEr": 30.0},
    ("simpo", 1): {"BLEU-4": 11.0, "CIDEr": 26.0},
}
COST = {
    ("dpo", 0): (0.050, 5.0, 1000.0, 500.0, 20),
    ("dpo", 1): (0.054, 5.4, 1100.0, 520.0, 20),
    ("simpo", 0): (0.040, 4.0, 1300.0, 400.0, 10),
    ("simpo", 1): (0.042, 4.2, 1400.0, 400.0, 10),
}


def cost_fields(time_per_step: float, wall: float, tokens_per_s: float, memory: float, forwards: int) -> dict:
    return {
        "wall_clock_s": wall,
        "time_per_step_s": time_per_step,
        "tokens_per_s": tokens_per_s,
        "peak_memory_mb": memory,
        "memory_kind": "rss",
        "forward_passes": forwards,
        "steps": 4,
        "pairs_seen": 64,
        "data_s": 0.1,
        "policy_forward_s": 1.0,
        "reference_forward_s": 0.5 if forwards == 20 else 0.0,
        "backward_s": 2.0,
        "optimizer_s": 0.5,
    }


def manifest(task: str, loss: str, seed: int, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "run_id": RUN_ID,
        "task": task,
        "loss": loss,
        "loss_params": {"beta": 0.1},
        "needs_reference": loss == "dpo",
        "ref_mode": "live" if loss == "dpo" else "none",
        "seed": seed,
        "budget": {"kind": "steps", "value": 4},
        "config": config if config is not None else CONFIG,
        "versions": {"python": "3.11"},
        "git_sha": "abc123",
        "data_hash": "d41d8cd9",
        "synthetic": True,
        "judge": "exact-fact",
        "started_at": "2026-11-25T10:00:00+00:00",
    }


def result(
    task: str,
    loss: str,
    seed: int,
    quality: dict[str, float],
    cost: dict[str, Any],
    status: str = "done",
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "run_id": RUN_ID,
        "task": task,
        "loss": loss,
        "seed": seed,
        "synthetic": True,
        "judge": "exact-fact",
        "ref_mode": "live" if loss == "dpo" else "none",
        "caption_metrics": "pycocoevalcap 1.2 (test)",
        "quality": quality,
        "cost": cost,
        "budget": {"kind": "steps", "value": 4, "reached": status == "done"},
        "error": error,
    }


def step_records(loss: str, seed: int, steps: int = 4) -> list[dict[str, float]]:
    """Loss falling and margin rising, different per loss and seed so curves and bands are visible."""
    offset = 0.1 * seed + (0.0 if loss == "dpo" else 0.2)
    return [
        {
            "step": step,
            "loss": 0.7 - 0.1 * step + offset,
            "margin": 0.2 * step + offset,
            "accuracy": 0.5,
            "elapsed_s": 0.05 * step,
            "tokens": 1000 * step,
        }
        for step in range(1, steps + 1)
    ]


def write_cell(
    run_dir: Path,
    task: str,
    loss: str,
    seed: int,
    *,
    manifest_payload: dict | None = None,
    result_payload: dict | str | None = None,
    metrics: list[dict] | str | None = None,
) -> Path:
    """One cell folder; a str payload is written verbatim (to fake corrupt or half-written files)."""
    folder = run_dir / task / loss / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    _write(
        folder / "manifest.json",
        manifest_payload if manifest_payload is not None else manifest(task, loss, seed),
    )
    if result_payload is not None:
        _write(folder / "result.json", result_payload)
    if metrics is not None:
        text = metrics if isinstance(metrics, str) else "".join(json.dumps(r) + "\n" for r in metrics)
        (folder / "metrics.jsonl").write_text(text)
    return folder


def _write(path: Path, payload: dict | str) -> None:
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload, indent=2, sort_keys=True))


def standard_run(root: Path, run_id: str = RUN_ID) -> Path:
    """The hand-checked scenario of the module docstring; returns the run folder."""
    run_dir = root / run_id
    for (loss, seed), quality in QUALITY.items():
        write_cell(
            run_dir,
            TASK,
            loss,
            seed,
            result_payload=result(TASK, loss, seed, quality, cost_fields(*COST[(loss, seed)])),
            metrics=step_records(loss, seed),
        )
    running = step_records("dpo", 2, steps=2)
    write_cell(
        run_dir, TASK, "dpo", 2, metrics="".join(json.dumps(r) + "\n" for r in running) + '{"step": 3, "lo'
    )
    failed = result(
        TASK,
        "simpo",
        2,
        {},
        cost_fields(0.04, 0.12, 1300.0, 400.0, 3),
        status="failed",
        error={"step": 3, "reason": "non-finite loss (nan)"},
    )
    write_cell(run_dir, TASK, "simpo", 2, result_payload=failed, metrics=step_records("simpo", 2, steps=3))
    write_cell(
        run_dir, TASK, "simpo", 3, result_payload='{"status": "done", "quality": {"CIDEr": 1', metrics=[]
    )
    return run_dir
