"""What a cell leaves on disk (docs/CONTRACTS.md): its manifest, its result, its captions and per-example
scores.

Every file is written atomically, so a cell folder holds a complete ``result.json`` or none; a folder
with a manifest and no result is a cell that was interrupted, and a re-run redoes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synpo_bench.api.io import read_json, write_text_atomic
from synpo_bench.api.tasks import CaptionExample
from synpo_bench.config import Cell, RunConfig

if TYPE_CHECKING:  # types only: reading results (synpo-bench status) must not import torch
    from synpo_bench.api.losses import Loss
    from synpo_bench.train import TrainOutcome

CAPTIONS_FILE = "captions.jsonl"
"""The evaluated captions, one JSON line per eval example: for reading what a loss did to the model."""
ITEM_SCORES_FILE = "item_scores.jsonl"
"""Each eval example's metric values (``TaskAdapter.item_scores``, the win indicator), one JSON line per
example in the order of ``captions.jsonl``: what reports pair two models on."""

RESULT_KEYS_FROM_MANIFEST = (
    "run_id",
    "task",
    "loss",
    "seed",
    "synthetic",
    "judge",
    "caption_metrics",
    "ref_mode",
)


def manifest(
    config: RunConfig,
    cell: Cell,
    loss: Loss,
    ref_mode: str,
    *,
    data_hash: str,
    synthetic: bool,
    judge: str,
    caption_metrics: str,
    device: str,
) -> dict[str, Any]:
    """``manifest.json``: everything needed to say what this cell ran, written when it starts; a tuned
    cell's also has its ``setting`` (``--tune`` key -> value), which overrides ``config``'s."""
    # Imported here: both import torch, which this module's readers (synpo-bench status) never need.
    from synpo_bench.parallel import parallel_record
    from synpo_bench.run.environment import environment_versions, git_sha

    found = {
        "run_id": config.resolved_run_id(),
        "task": cell.task,
        "loss": cell.loss,
        "loss_params": loss.params,
        "needs_reference": loss.needs_reference,
        "ref_mode": ref_mode,
        "seed": cell.seed,
        "budget": {"kind": config.budget.kind, "value": config.budget.value},
        "config": config.identity(),
        "versions": environment_versions(),
        "git_sha": git_sha(),
        "data_hash": data_hash,
        "synthetic": synthetic,
        "judge": judge,
        "caption_metrics": caption_metrics,
        "device": device,
        "started_at": datetime.now(timezone.utc).isoformat(),
    }
    if cell.setting:
        found["setting"] = dict(cell.setting)
    if config.processes > 1:  # data-parallel: how each optimizer step's batch was split
        found["parallel"] = parallel_record(
            config.processes, config.train.batch_size, config.train.grad_accum
        )
    return found


def result_skeleton(cell_manifest: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``result.json`` known before training (a failed cell still has them)."""
    result = {
        key: cell_manifest[key]
        for key in (*RESULT_KEYS_FROM_MANIFEST, "setting", "parallel")
        if key in cell_manifest
    }
    result["budget"] = cell_manifest["budget"]
    return result


def outcome_fields(config: RunConfig, outcome: TrainOutcome) -> dict[str, Any]:
    """The training outcome's part of ``result.json``: cost, budget reached, status and error."""
    fields: dict[str, Any] = {"cost": outcome.cost, "status": "done", "error": None}
    fields["budget"] = {
        "kind": config.budget.kind,
        "value": config.budget.value,
        "reached": outcome.budget_reached,
    }
    if outcome.failure is not None:
        fields["status"] = "failed"
        fields["error"] = {"step": outcome.failure.step, "reason": outcome.failure.reason}
    return fields


def load_result(folder: Path) -> dict[str, Any]:
    """A cell's ``result.json``, or ``{}`` when it has none (not run, running or killed)."""
    try:
        return read_json(folder / "result.json")
    except (OSError, ValueError):
        return {}


def is_finished(result: dict[str, Any], rerun: str) -> bool:
    """Whether a cell with this result is skipped under ``--rerun`` (none, failed or all)."""
    status = result.get("status")
    if status == "done":
        return rerun != "all"
    if status == "failed":
        return rerun == "none"
    return False


def write_captions(path: Path, examples: Sequence[CaptionExample], captions: Sequence[str]) -> None:
    lines = (
        json.dumps({"clip_id": e.clip_id, "dimension": e.dimension, "caption": c}, ensure_ascii=False)
        for e, c in zip(examples, captions, strict=True)
    )
    write_text_atomic(path, "".join(line + "\n" for line in lines))


def read_captions(path: Path, examples: Sequence[CaptionExample]) -> list[str] | None:
    """The captions ``write_captions`` wrote for ``examples``; None when the file is missing, damaged or
    written for other examples (another clip or dimension at any line)."""
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, ValueError):
        return None
    if len(rows) != len(examples):
        return None
    keys = [(row.get("clip_id"), row.get("dimension")) if isinstance(row, dict) else None for row in rows]
    if keys != [(e.clip_id, e.dimension) for e in examples]:
        return None
    captions = [row.get("caption") for row in rows]
    return captions if all(isinstance(c, str) for c in captions) else None


def write_item_scores(
    path: Path, examples: Sequence[CaptionExample], items: Sequence[Mapping[str, float]]
) -> None:
    """``item_scores.jsonl``: per example ``clip_id, dimension, scores {metric: value}``."""
    lines = (
        json.dumps(
            {
                "clip_id": e.clip_id,
                "dimension": e.dimension,
                "scores": {name: float(value) for name, value in item.items()},
            },
            ensure_ascii=False,
            allow_nan=False,
        )
        for e, item in zip(examples, items, strict=True)
    )
    write_text_atomic(path, "".join(line + "\n" for line in lines))
