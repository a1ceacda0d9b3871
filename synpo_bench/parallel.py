"""Several processes training each cell data-parallel (``accelerate launch`` / ``torchrun``): who does what.

Every process runs the same command. The main process decides which cells train (it alone reads results
and holds claims), prepares each task (warm start, pairs, the start's evaluation), evaluates each trained
policy and writes every file; it sends the others what they need with one collective (``from_main``),
which is also what they wait on, and they load the warm start from the cache it has just written.

Each optimizer step's batch is the one a single process would take (the seed and epoch decide it), cut
into equal contiguous parts, one per process (``process_share``). Every loss is a mean over its pairs and
DDP averages the processes' gradients, so with equal parts the step's gradient, and its loss, are the
one-process ones on the whole batch; ``combine_micro_batches`` makes each metrics.jsonl line the one a
single process would write. One process: every function here is the identity, and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import broadcast, broadcast_object_list

from synpo_bench.api.errors import UserError
from synpo_bench.api.stats import NonFiniteError
from synpo_bench.budgets import Budget

T = TypeVar("T")
S = TypeVar("S")

WAIT_TIMEOUT = timedelta(hours=24)
"""How long the other processes wait for the main one (a warm start, or evaluating a big model, takes
long): torch's default of 10-30 minutes would end the run while the main process works."""
PER_PROCESS_COST = (
    "peak_memory_mb",
    "peak_reserved_mb",  # CUDA only
    "forward_passes",
    "data_s",
    "policy_forward_s",
    "reference_forward_s",
    "backward_s",
    "optimizer_s",
)
"""Cost fields measured on the main process alone (one device's figures); tokens, pairs and steps are
the whole run's."""


class MainProcessFailed(UserError):
    """The main process stopped (its own error is printed there); the others end with it."""


def process_state(cpu: bool) -> PartialState:
    """accelerate's view of the launch (the process group, made here when several processes run)."""
    return PartialState(cpu=cpu, timeout=WAIT_TIMEOUT)


def from_main(state: PartialState, make: Callable[[], T], share: Callable[[T], Any] = lambda v: v) -> Any:
    """``make()`` on the main process, which returns it and sends ``share(value)`` to the others (they return
    that). An error on the main process ends the others too, instead of leaving them waiting."""
    if state.num_processes == 1:
        return make()
    box: list[Any] = [None]
    if state.is_main_process:
        try:
            value = make()
        except BaseException as error:
            broadcast_object_list([MainProcessFailed(f"main process: {type(error).__name__}: {error}")])
            raise
        box[0] = share(value)
        broadcast_object_list(box)
        return value
    broadcast_object_list(box)
    if isinstance(box[0], MainProcessFailed):
        raise box[0]
    return box[0]


def process_share(chunk: Sequence[int], index: int, count: int) -> Sequence[int]:
    """Process ``index``'s contiguous part of a micro-batch of ``count`` equal parts."""
    if len(chunk) % count:
        raise ValueError(f"a batch of {len(chunk)} pairs does not split into {count} equal parts")
    size = len(chunk) // count
    return chunk[index * size : (index + 1) * size]


def agree_finite(accelerator: Accelerator, loss: Callable[[S], T], stats: S) -> T:
    """``loss(stats)``; NonFiniteError on every process when it raised one on any: a process that stopped
    alone would leave the others waiting in the gradient all-reduce."""
    if accelerator.num_processes == 1:
        return loss(stats)
    problem = ""
    try:
        value = loss(stats)
    except NonFiniteError as error:
        problem = str(error)
    flags = accelerator.reduce(torch.tensor([float(bool(problem))], device=accelerator.device), "sum")
    if float(flags.sum()) > 0:
        raise NonFiniteError(problem or "the loss is not finite on another process")
    return value


def budget_reached(
    accelerator: Accelerator, budget: Budget, steps: int, pairs: int, elapsed_s: float
) -> bool:
    """Whether training stops, alike on every process: steps and pairs are counted alike everywhere; a
    time budget follows the main process's clock."""
    reached = budget.reached(steps, pairs, elapsed_s)
    if accelerator.num_processes == 1 or budget.kind != "seconds":
        return reached
    sent = broadcast(torch.tensor([float(reached)], device=accelerator.device), from_process=0)
    return bool(sent.item())


def combine_micro_batches(
    accelerator: Accelerator,
    micro: list[dict[str, float]],
    logit_norms: list[tuple[float, float]],
    tokens: int,
) -> tuple[list[dict[str, float]], list[tuple[float, float]], int]:
    """Each micro-batch's metrics as one process would have measured them on the whole micro-batch: means
    over pairs averaged over the equal parts, the negative dominance again from the averaged pulls, the
    logit-gradient norms from their squares (a part's gradient is the whole's times the process count),
    the tokens summed. One all-reduce per optimizer step."""
    count = accelerator.num_processes
    if count == 1:
        return micro, logit_norms, tokens
    keys = list(micro[0])
    values = torch.tensor([[m[k] for k in keys] for m in micro], dtype=torch.float64)
    squares = torch.tensor(logit_norms or [(0.0, 0.0)] * len(micro), dtype=torch.float64) ** 2
    packed = torch.cat(
        [values.flatten(), squares.flatten(), torch.tensor([float(tokens)], dtype=torch.float64)]
    )
    total = accelerator.reduce(packed.to(accelerator.device), "sum").cpu()
    means = total[: values.numel()].reshape(values.shape) / count
    norms = total[values.numel() : -1].reshape(squares.shape).sqrt() / count
    combined = [dict(zip(keys, row.tolist(), strict=True)) for row in means]
    for metrics in combined:
        if "negative_dominance" in metrics:
            pull = metrics["grad_chosen"] + metrics["grad_rejected"]
            metrics["negative_dominance"] = metrics["grad_rejected"] / pull if pull > 0 else 0.0
    pairs = [(float(c), float(r)) for c, r in norms.tolist()]
    return combined, pairs, round(float(total[-1]))


def parallel_record(processes: int, batch_size: int, grad_accum: int) -> dict[str, Any]:
    """The manifest's and result's ``parallel`` entry: how each optimizer step's batch was split."""
    return {
        "processes": processes,
        "per_process_batch_size": batch_size,
        "grad_accum": grad_accum,
        "pairs_per_step": batch_size * processes * grad_accum,
        "pairs_per_process_per_step": batch_size * grad_accum,
        "per_process_cost": list(PER_PROCESS_COST),
    }


def parallel_cost(processes: int, batch_size: int, grad_accum: int) -> dict[str, int]:
    """The cost record's numbers of the split (none for one process: its record stays as it was)."""
    if processes == 1:
        return {}
    split = parallel_record(processes, batch_size, grad_accum)
    return {key: split[key] for key in ("processes", "pairs_per_step", "pairs_per_process_per_step")}
