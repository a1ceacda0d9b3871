"""One cell of the grid: (task, loss, seed) trained from the task's shared start, then evaluated.

Fairness lives here: every loss gets a fresh copy of the same starting weights, the same seeded batch
order (the seed and epoch decide it, never the loss), and the same optimizer, schedule and budget
(``train_cell``); only losses that need a reference pay for one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from synpo_bench.api.io import DiskFullError, check_disk_full, write_json_atomic
from synpo_bench.api.losses import Loss, get_loss
from synpo_bench.api.models import Batch, Policy, pair_rows
from synpo_bench.config import Cell, RunConfig
from synpo_bench.parallel import process_share
from synpo_bench.run.evaluate import Evaluator
from synpo_bench.run.observer import CellReport, RunObserver
from synpo_bench.run.prepare import PreparedTask
from synpo_bench.run.record import manifest, outcome_fields, result_skeleton
from synpo_bench.tasks.metrics.caption import caption_metrics_implementation
from synpo_bench.trackers import cell_tracking, log_result, log_step
from synpo_bench.train import (
    AdaptersOffReference,
    LiveReference,
    PrecomputedReference,
    Reference,
    StepRecord,
    train_cell,
)
from synpo_bench.tuning import loss_overrides, train_settings

POLICY_FOLDER = "policy"
"""Where ``--save-policies`` writes a cell's trained policy (adapters, or weights) and processor."""


def pair_batches(
    pairs: list[Any],
    frames: dict[str, Any],
    policy: Policy,
    batch_size: int,
    seed: int,
    process: tuple[int, int] = (0, 1),
) -> Callable[[int], Iterator[Batch]]:
    """Epoch -> batches. The order depends on the cell's seed and the epoch only, never on the loss.

    ``process`` (index, count): data-parallel training, where each micro-batch is the ``batch_size x count``
    pairs one process would take, and this process gets its equal part (``pair_index``; the whole micro-batch
    is ``step_pair_index``). Equal parts make DDP's gradient average the gradient of the whole batch's mean.
    """
    collate = policy.collate
    index, count = process
    size = batch_size * count

    def make(epoch: int) -> Iterator[Batch]:
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(len(pairs), generator=generator).tolist()
        usable = len(order) - len(order) % size if len(order) >= size else len(order) - len(order) % count
        for start in range(0, usable, size):
            chunk = order[start : min(start + size, usable)]
            mine = process_share(chunk, index, count)
            batch = pair_rows(collate, [pairs[i] for i in mine], frames)
            batch["pair_index"] = torch.tensor(mine)
            if count > 1:
                batch["step_pair_index"] = torch.tensor(chunk)
            yield batch

    return make


def reference_mode(asked: str, loss: Loss, policy: Policy) -> str:
    """What the cell's reference is: none, live (a frozen copy), adapters-off (the policy with its LoRA
    adapters disabled: the same start with no copy; taken for ``live`` whenever the policy offers it) or
    precomputed."""
    if not loss.needs_reference:
        return "none"
    if asked == "live" and policy.frozen_start() is not None:
        return AdaptersOffReference.mode
    return asked


class CellRunner:
    """Trains and evaluates cells; keeps the one thing cells of a task may share lazily, the
    precomputed reference table (``--ref-mode precomputed``), computed by the first cell that needs it."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        evaluator: Evaluator,
        accelerator: Accelerator,
        observer: RunObserver,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.evaluator = evaluator
        self.accelerator = accelerator
        self.observer = observer
        self._precomputed: dict[str, PrecomputedReference] = {}

    def run(self, prepared: PreparedTask, cell: Cell) -> CellReport:
        config = self.config
        folder = cell.folder(self.run_dir)
        main = self.accelerator.is_main_process  # the one that writes; the others only train
        if main:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "result.json").unlink(missing_ok=True)
        params = {**config.loss_params.get(cell.loss, {}), **loss_overrides(cell.setting, cell.loss)}
        loss = get_loss(cell.loss, **params)
        ref_mode = reference_mode(config.ref_mode, loss, prepared.base_model)
        cell_manifest = manifest(
            config,
            cell,
            loss,
            ref_mode,
            data_hash=prepared.info["data_hash"],
            synthetic=prepared.data.synthetic,
            judge=self.evaluator.judge.name,
            caption_metrics=caption_metrics_implementation(),
            device=str(self.evaluator.device),
        )
        if main:
            write_json_atomic(folder / "manifest.json", cell_manifest)
        step_pairs = config.train.batch_size * config.train.grad_accum * config.processes
        self.observer.cell_started(cell, config.budget.planned_steps(step_pairs))
        torch.manual_seed(cell.seed)
        policy = copy.deepcopy(prepared.base_model)
        result = result_skeleton(cell_manifest)
        with cell_tracking(self.accelerator, self.run_dir, config.resolved_run_id(), cell):
            try:
                self._train_and_evaluate(prepared, cell, loss, policy, folder, result)
            except (KeyboardInterrupt, SystemExit, DiskFullError):
                raise  # the manifest without a result marks the cell as interrupted; a re-run redoes it
            except Exception as error:  # one broken cell must not lose the others' results
                if isinstance(error, OSError):
                    check_disk_full(error, folder)  # the disk's fault, not the cell's: stop, as above
                reason = f"{type(error).__name__}: {error}"
                result.update(status="failed", error={"step": None, "reason": reason})
            log_result(self.accelerator, result)
        if main:
            write_json_atomic(folder / "result.json", result)
        return CellReport(cell, result["status"], result)

    def _train_and_evaluate(
        self,
        prepared: PreparedTask,
        cell: Cell,
        loss: Loss,
        policy: Policy,
        folder: Path,
        result: dict[str, Any],
    ) -> None:
        """Fills ``result`` as it goes, so a failure in evaluation keeps the training cost."""
        config = self.config
        reference = self._reference(prepared, cell, loss, policy)
        outcome = train_cell(
            policy=policy,
            loss=loss,
            make_batches=self._batches(prepared, policy, cell.seed, self._process),
            budget=config.budget,
            settings=train_settings(config.train, cell.setting),  # --tune's shared keys, if any
            accelerator=self.accelerator,
            reference=reference,
            metrics_path=folder / "metrics.jsonl",
            on_step=lambda step, record: self._step(cell, step, record),
        )
        result.update(outcome_fields(config, outcome))
        if not self.accelerator.is_main_process:
            return  # the main process saves and evaluates the policy, which every process holds alike
        if config.save_policies and outcome.failure is None:
            self.observer.stage(f"{cell.task}/{cell.loss}: saving the trained policy")
            self.accelerator.unwrap_model(policy).save_trained(folder / POLICY_FOLDER)
        if outcome.failure is None:
            result["quality"], result["eval_s"] = self.evaluator.evaluate_policy(
                self.accelerator.unwrap_model(policy),
                prepared.adapter,
                prepared.data,
                prepared.heldout,
                prepared.start_captions,
                folder,
            )

    def _step(self, cell: Cell, step: int, record: StepRecord) -> None:
        self.observer.cell_step(cell, step, record)
        log_step(self.accelerator, step, record)  # --report-to's trackers; nothing without them

    def _reference(self, prepared: PreparedTask, cell: Cell, loss: Loss, policy: Policy) -> Reference | None:
        if not loss.needs_reference:
            return None
        mode = reference_mode(self.config.ref_mode, loss, policy)
        if mode == AdaptersOffReference.mode:
            return AdaptersOffReference(policy)
        if mode == LiveReference.mode:
            return LiveReference(policy)
        if prepared.name not in self._precomputed:
            self.observer.stage(f"{cell.task}: precomputing reference log-probabilities (once per data set)")
            self._precomputed[prepared.name] = PrecomputedReference.compute(
                policy, self._batches(prepared, policy, seed=0)(0), len(prepared.pairs)
            )
        return self._precomputed[prepared.name]

    @property
    def _process(self) -> tuple[int, int]:
        return self.accelerator.process_index, self.accelerator.num_processes

    def _batches(
        self, prepared: PreparedTask, policy: Policy, seed: int, process: tuple[int, int] = (0, 1)
    ) -> Callable[[int], Iterator[Batch]]:
        """Training batches (this process's part of each); the precomputed reference's table reads them
        whole, in every process."""
        batch_size = self.config.train.batch_size
        return pair_batches(prepared.pairs, prepared.data.frames, policy, batch_size, seed, process)
