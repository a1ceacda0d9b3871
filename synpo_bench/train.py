"""One training cell: the same batches, optimizer, schedule and budget for every loss; only the loss differs.

The loop is deliberately plain (accelerate handles devices, mixed precision and several GPUs): a data
fetch, one policy forward over the concatenated ``[chosen; rejected]`` batch, a reference forward only
for losses that need one (live) or a table lookup (precomputed), the loss on sequence statistics, backward,
clipping and an optimizer step. Each phase is timed by the same ``CostMeter`` for every loss.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR

from synpo_bench.api.losses import Loss
from synpo_bench.api.models import Batch, Policy, evaluating, policy_logits
from synpo_bench.api.stats import NonFiniteError, sequence_stats, split_pairs
from synpo_bench.budgets import Budget
from synpo_bench.costs import CostMeter, PeakMemory
from synpo_bench.optimizer import adamw
from synpo_bench.parallel import agree_finite, budget_reached, combine_micro_batches, parallel_cost
from synpo_bench.train_settings import StepRecord, TrainSettings


class LiveReference:
    """A frozen copy of the starting policy, run forward on every batch (its cost shows in the step)."""

    mode = "live"
    forward_passes_per_batch = 1

    def __init__(self, policy: nn.Module) -> None:
        self.model = copy.deepcopy(policy).eval().requires_grad_(False)

    def logp_sums(self, batch: Batch) -> Tensor:
        with torch.inference_mode():
            return sequence_stats(policy_logits(self.model, batch), batch["labels"]).logp_sum.clone()


class AdaptersOffReference:
    """The policy itself with its LoRA adapters disabled, which is its start (``Policy.frozen_start``):
    one forward per batch like a live reference, without a second copy of the model in memory (as the
    SynPO authors' DPO script does with peft)."""

    mode = "adapters-off"
    forward_passes_per_batch = 1

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def logp_sums(self, batch: Batch) -> Tensor:
        start = self.policy.frozen_start()
        if start is None:
            raise ValueError("adapters-off reference on a policy whose start is not its adapters disabled")
        # In eval mode as the live copy is: no dropout in the reference.
        with evaluating(self.policy), torch.inference_mode(), start:
            return sequence_stats(policy_logits(self.policy, batch), batch["labels"]).logp_sum.clone()


class PrecomputedReference:
    """Reference sums computed once per data set (one forward per batch) and looked up by pair index."""

    mode = "precomputed"
    forward_passes_per_batch = 0

    def __init__(self, table: Tensor, precompute_s: float, forward_passes: int) -> None:
        self.table = table  # [n_pairs, 2]: chosen, rejected
        self.precompute_s = precompute_s
        self.forward_passes = forward_passes

    @classmethod
    def compute(cls, policy: nn.Module, batches: Iterable[Batch], n_pairs: int) -> PrecomputedReference:
        """The table, from ``policy`` itself before it trains (in eval mode, no dropout, restored after):
        no second copy of the model in memory, which is what this mode is chosen to save. Under no_grad,
        not inference_mode: a buffer a module caches on its first forward must stay usable by training."""
        start = time.perf_counter()
        table = torch.full((n_pairs, 2), float("nan"))
        passes = 0
        with evaluating(policy), torch.no_grad():
            for batch in batches:
                sums = sequence_stats(policy_logits(policy, batch), batch["labels"]).logp_sum.float().cpu()
                half = sums.shape[0] // 2
                table[batch["pair_index"].cpu()] = torch.stack([sums[:half], sums[half:]], dim=1)
                passes += 1
        if torch.isnan(table).any():
            raise ValueError("precomputed reference: some pairs were never seen by the precompute pass")
        return cls(table, time.perf_counter() - start, passes)

    def logp_sums(self, batch: Batch) -> Tensor:
        rows = self.table[batch["pair_index"].cpu()]
        return torch.cat([rows[:, 0], rows[:, 1]]).to(batch["input_ids"].device)


Reference = LiveReference | AdaptersOffReference | PrecomputedReference


@dataclass
class CellFailure:
    step: int
    reason: str


@dataclass
class TrainOutcome:
    cost: dict[str, float | int | str]
    budget_reached: dict[str, float]
    failure: CellFailure | None = None
    history: list[StepRecord] = field(default_factory=list)


class _LogitGradientSplit:
    """Norm of ∂loss/∂logits over the chosen rows and over the rejected rows, read during backward.

    A tensor hook sees the gradient the normal backward computes anyway, so this costs two norms and
    no extra pass.
    """

    def __init__(self) -> None:
        self.norms: list[tuple[float, float]] = []
        """Per micro-batch: (chosen, rejected)."""

    def attach(self, logits: Tensor) -> None:
        if logits.requires_grad:
            logits.register_hook(self._read)

    def _read(self, grad: Tensor) -> None:
        half = grad.shape[0] // 2
        self.norms.append((float(grad[:half].float().norm()), float(grad[half:].float().norm())))


def _cycle(make_batches: Callable[[int], Iterable[Batch]]) -> Iterator[Batch]:
    """Endless batches; epoch e's order comes from ``make_batches(e)`` (seeded by the run, not the loss)."""
    epoch = 0
    while True:
        empty = True
        for batch in make_batches(epoch):
            empty = False
            yield batch
        if empty:
            raise ValueError("the preference data set is empty: no batch to train on")
        epoch += 1


TIME_BUDGET_WARMUP_STEPS = 10
"""Warm-up length under a time budget, whose number of steps is not known in advance."""


def lr_factor(step: int, warmup: int, planned: int | None) -> float:
    """The fraction of the peak rate that optimizer step ``step`` (1-based) uses.

    transformers' linear (and constant) schedules with warm-up, except that the warm-up line starts one
    step earlier: theirs gives step 1 the rate 0, an update that changes nothing, the same wasted step
    for every loss. Here step k <= W uses k/(W+1): the line from 0 before step 1 to the peak at step
    W+1, where transformers also peaks. After it the rate is transformers' unchanged: (N-k+1)/(N-W) for
    N planned steps (linear to 0 after the last step), or the peak when N is unknown (time budgets).
    """
    if step <= warmup:
        return step / (warmup + 1)
    if planned is None:
        return 1.0
    return max(0.0, (planned - step + 1) / max(1, planned - warmup))


def _scheduler(
    optimizer: torch.optim.Optimizer, budget: Budget, settings: TrainSettings, processes: int
) -> LambdaLR:
    planned = budget.planned_steps(settings.batch_size * settings.grad_accum * processes)
    warmup = TIME_BUDGET_WARMUP_STEPS if planned is None else math.ceil(settings.warmup_ratio * planned)
    # LambdaLR counts steps from 0: its step t is our step t + 1.
    return LambdaLR(optimizer, lambda t: lr_factor(t + 1, warmup, planned))


def batch_hash(pair_indices: list[list[int]]) -> str:
    """Fingerprint of one optimizer step's batch: the pair indices of its micro-batches, in order.

    "sha256:" and the first 16 hex digits of SHA-256 over the indices written in decimal and joined by
    ","; equal hashes in two metrics.jsonl files show the two cells trained on the same batches in the
    same order.
    """
    text = ",".join(str(index) for indices in pair_indices for index in indices)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def count_tokens(batch: Batch) -> int:
    return int(batch["attention_mask"].sum())


def train_cell(
    *,
    policy: nn.Module,
    loss: Loss,
    make_batches: Callable[[int], Iterable[Batch]],
    budget: Budget,
    settings: TrainSettings,
    accelerator: Accelerator,
    reference: Reference | None,
    metrics_path: Path,
    on_step: Callable[[int, StepRecord], None] | None = None,
) -> TrainOutcome:
    """Train ``policy`` in place under ``budget``; per-step metrics go to ``metrics_path`` (JSON lines)."""
    if loss.needs_reference and reference is None:
        raise ValueError(f"loss '{loss.name}' needs a reference model and none was built")
    trainable = [p for p in policy.parameters() if p.requires_grad]
    optimizer = adamw(trainable, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = _scheduler(optimizer, budget, settings, accelerator.num_processes)
    policy, optimizer, scheduler = accelerator.prepare(policy, optimizer, scheduler)
    policy.train()
    device = accelerator.device
    meter = CostMeter(device)
    batches = _cycle(make_batches)
    history: list[StepRecord] = []
    failure: CellFailure | None = None
    start = time.perf_counter()
    with PeakMemory(device) as peak, contextlib.ExitStack() as files:
        # Several processes: the main one writes the step's line, combined over all of them.
        metrics_file = files.enter_context(metrics_path.open("w")) if accelerator.is_main_process else None
        while not budget_reached(
            accelerator, budget, meter.steps, meter.pairs_seen, time.perf_counter() - start
        ):
            try:
                record = _optimizer_step(
                    policy, loss, batches, reference, optimizer, scheduler, accelerator, settings, meter
                )
            except NonFiniteError as error:
                failure = CellFailure(step=meter.steps + 1, reason=str(error))
                break
            record["elapsed_s"] = time.perf_counter() - start
            history.append(record)
            if metrics_file is not None:
                metrics_file.write(json.dumps(record) + "\n")
                metrics_file.flush()  # on disk as the step ends: a killed cell keeps its curve; tail -f
            if on_step is not None:
                on_step(meter.steps, record)
        wall = time.perf_counter() - start
        if metrics_file is not None:
            os.fsync(metrics_file.fileno())
    if isinstance(reference, PrecomputedReference):
        meter.forward_passes += reference.forward_passes
    cost = meter.summary(wall, peak)
    if isinstance(reference, PrecomputedReference):
        cost["reference_precompute_s"] = reference.precompute_s
    cost.update(parallel_cost(accelerator.num_processes, settings.batch_size, settings.grad_accum))
    reached = {"steps": meter.steps, "pairs": meter.pairs_seen, "seconds": wall}
    return TrainOutcome(cost=cost, budget_reached=reached, failure=failure, history=history)


def _optimizer_step(
    policy: nn.Module,
    loss: Loss,
    batches: Iterator[Batch],
    reference: Reference | None,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    accelerator: Accelerator,
    settings: TrainSettings,
    meter: CostMeter,
) -> StepRecord:
    """One optimizer step over ``grad_accum`` micro-batches; returns the step's metrics."""
    metric_sums: dict[str, float] = {}
    micro: list[dict[str, float]] = []
    split = _LogitGradientSplit()
    pair_indices: list[list[int]] = []
    tokens = 0
    for index in range(settings.grad_accum):
        with meter.phase("data"):
            host_batch = next(batches)
            # The whole micro-batch's pairs (all processes'), read before the copy to the device.
            pair_indices.append(host_batch.get("step_pair_index", host_batch["pair_index"]).tolist())
            batch = _to_device(host_batch, accelerator.device)
        ref_sums = None
        if reference is not None and loss.needs_reference:
            # Before the policy forward, as TRL does: no autograd graph is held in memory meanwhile.
            with meter.phase("reference_forward"):
                ref_sums = reference.logp_sums(batch)
            meter.forward_passes += reference.forward_passes_per_batch
        with meter.phase("policy_forward"):
            logits = policy_logits(policy, batch)
            policy_stats = sequence_stats(logits, batch["labels"])
        meter.forward_passes += 1
        with meter.phase("policy_forward"):  # the loss itself is part of the forward cost
            out = agree_finite(accelerator, loss, split_pairs(policy_stats, ref_sums))
        split.attach(logits)
        last = index == settings.grad_accum - 1  # DDP: gradients are averaged once, at the step's end
        with meter.phase("backward"), contextlib.nullcontext() if last else accelerator.no_sync(policy):
            accelerator.backward(out.loss / settings.grad_accum)
        tokens += count_tokens(batch)
        meter.pairs_seen += len(pair_indices[-1])
        micro.append({"loss": out.loss.item(), **out.metrics})
    micro, logit_norms, tokens = combine_micro_batches(accelerator, micro, split.norms, tokens)
    meter.tokens += tokens
    for metrics in micro:
        for key, value in metrics.items():
            metric_sums[key] = metric_sums.get(key, 0.0) + value
    with meter.phase("optimizer"):
        grad_norm = accelerator.clip_grad_norm_(policy.parameters(), settings.max_grad_norm)
        if not math.isfinite(float(grad_norm)):
            raise NonFiniteError(f"gradient norm is not finite ({float(grad_norm)})")
        lr = optimizer.param_groups[0]["lr"]  # the rate this step uses; the scheduler then sets the next
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    meter.steps += 1
    record: StepRecord = {key: value / settings.grad_accum for key, value in metric_sums.items()}
    record.update(
        step=meter.steps,
        lr=lr,
        batch_hash=batch_hash(pair_indices),
        grad_norm=float(grad_norm),
        logit_grad_norm_chosen=sum(chosen for chosen, _ in logit_norms) / settings.grad_accum,
        logit_grad_norm_rejected=sum(rejected for _, rejected in logit_norms) / settings.grad_accum,
        pairs_seen=meter.pairs_seen,
        tokens=meter.tokens,
    )
    return record


def _to_device(batch: Batch, device: torch.device) -> Batch:
    return {key: value.to(device) if isinstance(value, Tensor) else value for key, value in batch.items()}
