"""Engine overhead: ``train_cell`` (synpo_bench/train.py) against a bare PyTorch loop doing the same
work, one optimizer step of each in turn (A B A B ...). Prints numbers; not a timed test.

    python benchmarks/bench_engine.py [--steps 200] [--warmup 10] [--loss synpo] [--threads N] [--control]

Both sides train their own copy of one model (LlamaForCausalLM: vocab 512, hidden 128, 2 layers, 4 heads;
the same seed) on one fixed batch (16 pairs of 96 tokens: one forward over 32 rows) with the same forward,
loss function, backward, clipping, AdamW settings and scheduler. The engine step is the time between two
of ``train_cell``'s ``on_step`` calls: its whole loop iteration (budget check, the step with its per-step
diagnostics, the metrics.jsonl line written). The bare step runs inside ``on_step``, so the two alternate
step by step and a burst of load from another process hits both sides alike. Printed for wall-clock and
for the process's CPU time (which waiting for a busy core does not inflate): the median of each, the ratio
of the medians with a 95% bootstrap interval (paired steps resampled, scipy.stats.bootstrap) and the
inter-quartile range of the per-pair ratios.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from scipy.stats import bootstrap
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR
from transformers import LlamaConfig, LlamaForCausalLM

from synpo_bench.api.losses import Loss, get_loss
from synpo_bench.api.models import Batch, policy_logits
from synpo_bench.api.stats import IGNORE_INDEX, sequence_stats, split_pairs
from synpo_bench.budgets import Budget
from synpo_bench.optimizer import adamw
from synpo_bench.train import LiveReference, TrainSettings, lr_factor, train_cell

PAIRS, LENGTH, VOCAB, PROMPT = 16, 96, 512, 16
LR = 1e-4


class TextPolicy(nn.Module):
    """A causal LM as a policy: ``(frames, input_ids, attention_mask) -> logits``."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.lm = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=VOCAB,
                hidden_size=128,
                intermediate_size=256,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=4,
                max_position_embeddings=128,
            )
        )

    def forward(self, frames: Tensor | None, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.lm(input_ids=input_ids, attention_mask=attention_mask).logits


def fixed_batch() -> Batch:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (2 * PAIRS, LENGTH), generator=generator)
    labels = ids.clone()
    labels[:, :PROMPT] = IGNORE_INDEX
    return {
        "frames": None,
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": labels,
        "pair_index": torch.arange(PAIRS),
    }


class BareLoop:
    """The engine's work with nothing around it: (a reference forward,) the policy forward, the loss
    function itself (no checks, no diagnostics), backward, clipping, the optimizer and scheduler steps.
    The optimizer is train.py's (``synpo_bench.optimizer.adamw``, with the cell's settings)."""

    def __init__(self, loss: Loss, batch: Batch, steps: int, warmup: int) -> None:
        self.policy = TextPolicy().train()
        self.reference = copy.deepcopy(self.policy).eval().requires_grad_(False)
        self.loss, self.batch = loss, batch
        trainable = [p for p in self.policy.parameters() if p.requires_grad]
        self.optimizer = adamw(trainable, lr=LR, weight_decay=TrainSettings().weight_decay)
        self.scheduler = LambdaLR(self.optimizer, lambda t: lr_factor(t + 1, warmup, steps))

    def step(self) -> None:
        ref_sums = None
        if self.loss.needs_reference:
            with torch.inference_mode():
                ref_sums = sequence_stats(policy_logits(self.reference, self.batch), self.batch["labels"])
            ref_sums = ref_sums.logp_sum.clone()
        stats = split_pairs(
            sequence_stats(policy_logits(self.policy, self.batch), self.batch["labels"]), ref_sums
        )
        value = self.loss.spec.function(stats, **self.loss.params).per_pair.mean()
        value.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), TrainSettings().max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)


def clocks() -> np.ndarray:
    """Wall-clock and this process's CPU time (all its threads), in seconds."""
    return np.array([time.perf_counter(), time.process_time()])


@dataclass
class Interleaved:
    """Engine and bare step times, pair by pair: engine step k, then bare step k; each a (wall, CPU) pair."""

    bare: BareLoop
    engine_s: list[np.ndarray] = field(default_factory=list)
    bare_s: list[np.ndarray] = field(default_factory=list)
    _resumed: np.ndarray = field(default_factory=clocks)

    def start(self) -> None:
        self._resumed = clocks()

    def on_step(self, step: int, record: object) -> None:
        self.engine_s.append(clocks() - self._resumed)
        began = clocks()
        self.bare.step()
        self.bare_s.append(clocks() - began)
        self._resumed = clocks()


def interleave(loss_name: str, steps: int, warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-step seconds of the engine and of the bare loop, ``[steps, 2]`` (wall, CPU), the first ``warmup``
    pairs dropped."""
    loss, batch = get_loss(loss_name), fixed_batch()
    total = steps + warmup
    timer = Interleaved(BareLoop(loss, batch, total, _warmup_steps(total)))
    policy = TextPolicy()
    with tempfile.TemporaryDirectory() as folder:
        timer.start()
        train_cell(
            policy=policy,
            loss=loss,
            make_batches=lambda epoch: iter([batch] * total),
            budget=Budget("steps", total),
            settings=TrainSettings(batch_size=PAIRS, lr=LR),
            accelerator=Accelerator(cpu=True),
            reference=LiveReference(policy) if loss.needs_reference else None,
            metrics_path=Path(folder) / "metrics.jsonl",
            on_step=timer.on_step,
        )
    return np.array(timer.engine_s[warmup:]), np.array(timer.bare_s[warmup:])


def control(loss_name: str, steps: int, warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Two identical bare loops alternating single steps (A A' A A' ...): the ratio the comparison prints
    when there is no difference at all, i.e. this machine's noise for the same number of pairs."""
    loss, batch = get_loss(loss_name), fixed_batch()
    total = steps + warmup
    first, second = (BareLoop(loss, batch, total, _warmup_steps(total)) for _ in range(2))
    times: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    for _ in range(total):
        for loop, spent in zip((first, second), times, strict=True):
            began = clocks()
            loop.step()
            spent.append(clocks() - began)
    return np.array(times[0][warmup:]), np.array(times[1][warmup:])


def _warmup_steps(planned: int) -> int:
    return -(-planned // 10)  # train.py: ceil(warmup_ratio * planned), warmup_ratio 0.1


def ratio_of_medians(engine: np.ndarray, bare: np.ndarray) -> float:
    return float(np.median(engine) / np.median(bare))


def summarise(
    engine: np.ndarray,
    bare: np.ndarray,
    clock: str,
    statistic: Callable[..., float] = ratio_of_medians,
    names: tuple[str, str] = ("engine", "bare loop"),
) -> str:
    interval = bootstrap(
        (engine, bare), statistic, paired=True, vectorized=False, n_resamples=2000, method="percentile", rng=0
    ).confidence_interval
    pair_ratios = engine / bare
    q1, q3 = np.percentile(pair_ratios, [25, 75])
    return (
        f"{clock}: {names[0]} {1000 * statistics.median(engine):.1f} ms/step, "
        f"{names[1]} {1000 * statistics.median(bare):.1f} ms/step "
        f"({len(engine)} pairs of single steps, A B A B)\n"
        f"  {names[0]} / {names[1]}: {statistic(engine, bare):.3f}x (ratio of medians; 95% bootstrap "
        f"interval {interval.low:.3f}-{interval.high:.3f}); per-pair ratios: median "
        f"{np.median(pair_ratios):.3f}, IQR {q1:.3f}-{q3:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=200, help="timed pairs of single steps")
    parser.add_argument("--warmup", type=int, default=10, help="pairs run first and not timed")
    parser.add_argument(
        "--loss", default="synpo", help="a loss name; one needing a reference gets a live copy"
    )
    parser.add_argument("--threads", type=int, help="torch's intra-op threads (default: torch's choice)")
    parser.add_argument(
        "--control", action="store_true", help="also time two identical bare loops (A/A): the noise floor"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, threads {threads}, {PAIRS} pairs x {LENGTH} tokens, {args.loss}")
    engine, bare = interleave(args.loss, args.steps, args.warmup)
    # CPU time is what the process itself spent: unlike wall-clock, waiting for a busy core does not count.
    for column, clock in enumerate(("wall-clock", "CPU time")):
        print(summarise(engine[:, column], bare[:, column], clock))
    if args.control:
        first, second = control(args.loss, args.steps, args.warmup)
        names = ("bare loop A", "bare loop A'")
        print(summarise(first[:, 0], second[:, 0], "control, wall-clock", names=names))


if __name__ == "__main__":
    main()
