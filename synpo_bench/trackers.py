"""``--report-to``: one experiment-tracker run per cell, through accelerate's tracker API.

The grid's accelerator is made with ``log_with`` (the trackers) and a ``project_dir``. Each cell opens
its tracker run (``init_trackers``: project ``synpo-bench``, tagged with the run id, task, loss, seed and
a tuned cell's setting), logs every optimizer step's numbers (the ``metrics.jsonl`` line) and, at the
end, the cell's quality (``quality/<metric>``) and cost (``cost/<key>``) at its last step, then closes
it. TensorBoard's event files go to ``<run>/tensorboard/<cell>/synpo-bench/``. Trackers only watch: they
are not part of a run's identity, so they change neither results nor run ids.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from accelerate import Accelerator
from accelerate.utils import (
    is_mlflow_available,
    is_tensorboard_available,
    is_trackio_available,
    is_wandb_available,
)

from synpo_bench.api.errors import UserError
from synpo_bench.config import Cell, RunConfig

PROJECT = "synpo-bench"
"""The tracker project every cell's run belongs to (wandb / trackio project, mlflow experiment)."""
TENSORBOARD_FOLDER = "tensorboard"
TRACKERS: dict[str, tuple[Callable[[], bool], str]] = {
    "tensorboard": (is_tensorboard_available, "pip install -e '.[tensorboard]'"),
    "wandb": (is_wandb_available, "pip install wandb"),
    "trackio": (is_trackio_available, "pip install trackio"),
    "mlflow": (is_mlflow_available, "pip install mlflow"),
}
"""``--report-to`` names: whether the tracker's package is installed, and how to install it."""

Scalar = str | int | float | bool


def check_trackers(names: tuple[str, ...]) -> None:
    """An unknown tracker, or one whose package is missing: one ``UserError`` before any work."""
    for name in names:
        if name not in TRACKERS:
            raise UserError(f"--report-to: unknown tracker '{name}'; choose from {', '.join(TRACKERS)}")
        installed, install = TRACKERS[name]
        if not installed():
            raise UserError(f"--report-to {name}: its package is not installed here ({install})")


def accelerator_options(config: RunConfig, run_dir: Path) -> dict[str, Any]:
    """``Accelerator`` keyword arguments for the run's trackers; none without ``--report-to``."""
    if not config.report_to:
        return {}
    return {"log_with": list(config.report_to), "project_dir": str(run_dir / TENSORBOARD_FOLDER)}


def cell_tags(run_id: str, cell: Cell) -> dict[str, Scalar]:
    """What names a cell's tracker run (stored as its configuration / hyper-parameters)."""
    tags: dict[str, Scalar] = {"run_id": run_id, "task": cell.task, "loss": cell.loss, "seed": cell.seed}
    if cell.setting:
        tags["setting"] = cell.label
        tags.update({f"setting.{key}": value for key, value in cell.setting})
    return tags


@contextmanager
def cell_tracking(accelerator: Accelerator, run_dir: Path, run_id: str, cell: Cell) -> Iterator[None]:
    """The cell's tracker run, open inside the block; nothing at all without ``--report-to``."""
    if not accelerator.log_with:
        yield
        return
    folder = run_dir / TENSORBOARD_FOLDER / cell.name
    if accelerator.is_main_process:
        shutil.rmtree(folder, ignore_errors=True)  # a re-run cell's curves replace, not join, the old ones
    # TensorBoard writes under the accelerator's logging folder; one folder per cell makes each cell a
    # TensorBoard run of its own (the project name, shared by all trackers, cannot differ per cell).
    accelerator.project_configuration.logging_dir = str(folder)
    tags = cell_tags(run_id, cell)
    accelerator.init_trackers(PROJECT, config=tags, init_kwargs=_init_kwargs(run_dir, run_id, cell, tags))
    try:
        yield
    finally:
        # What ``end_training`` does for trackers, without its end of the process group: the grid's next
        # cell trains with the same accelerator.
        for tracker in accelerator.trackers:
            tracker.finish()
        accelerator.trackers.clear()


def log_step(accelerator: Accelerator, step: int, record: Mapping[str, Any]) -> None:
    """One ``metrics.jsonl`` line's numbers (the batch hash is text, and stays in the file)."""
    accelerator.log(_numbers(record), step=step)


def log_result(accelerator: Accelerator, result: Mapping[str, Any]) -> None:
    """The cell's final quality and cost, at its last optimizer step."""
    cost = result.get("cost") or {}
    values = {
        **{f"quality/{key}": value for key, value in _numbers(result.get("quality") or {}).items()},
        **{f"cost/{key}": value for key, value in _numbers(cost).items()},
    }
    if values:
        accelerator.log(values, step=int(cost.get("steps", 0)))


def _numbers(values: Mapping[str, Any]) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _init_kwargs(run_dir: Path, run_id: str, cell: Cell, tags: Mapping[str, Scalar]) -> dict[str, Any]:
    """Each tracker's own naming of the cell's run (accelerate passes these to its ``init``)."""
    name = f"{run_id}/{cell.name}"
    labels = [cell.task, cell.loss, f"seed{cell.seed}", run_id, *([cell.label] if cell.setting else [])]
    return {
        "wandb": {"name": name, "group": run_id, "tags": labels, "dir": str(run_dir)},
        "trackio": {"name": name},
        "mlflow": {"run_name": name, "tags": {key: str(value) for key, value in tags.items()}},
    }
