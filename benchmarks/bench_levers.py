"""The cold default run's speed levers, measured one at a time on the embedded default's warm-started
model (the shipped warm start, so nothing is trained first). Prints numbers; not a timed test.

    python benchmarks/bench_levers.py [--steps 60] [--only generation,training,optimizer] [--device cuda]

- generation: greedy captions of the VDC test split (what evaluating one model costs) and one pass of
  temperature sampling over VDC training prompts (a quarter of the pair sampling), at several batch sizes,
  under ``torch.no_grad`` and under ``torch.inference_mode``.
- training: preference steps (synpo, 16 pairs of reference captions) of the eager policy against a
  ``torch.compile`` copy, one step of each in turn (A B A B) so load bursts hit both; the compile copy's
  first steps (compilation and recompiles on new lengths) are printed apart from its steady steps.
- optimizer: one AdamW step over the whole policy, the per-parameter loop, foreach and fused.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from synpo_bench.api.losses import get_loss
from synpo_bench.api.models import Batch, policy_logits
from synpo_bench.api.stats import sequence_stats, split_pairs
from synpo_bench.api.tasks import TaskData, get_task
from synpo_bench.models import VideoLM, warm_start
from synpo_bench.pairs import caption_token_budget
from synpo_bench.run.prepare import EMBEDDED_WORLD_TASKS

PAIRS = 16
LR = 3e-5


def load_default() -> tuple[VideoLM, TaskData]:
    """The default run's warm-started policy (from the shipped cache entry) and its VDC data."""
    data = {name: get_task(name)().load(None, seed=0, size="default") for name in EMBEDDED_WORLD_TASKS}
    examples = [example for name in EMBEDDED_WORLD_TASKS for example in data[name].train]
    with tempfile.TemporaryDirectory() as cache:
        policy, info = warm_start(examples, data["vdc"].frames, cache_dir=Path(cache) / "warmstart")
    if not info.shipped:
        print("note: the shipped warm start did not match; the policy above was trained here")
    assert isinstance(policy, VideoLM)
    return policy, data["vdc"]


def synchronize() -> None:
    """Wait for queued CUDA kernels, so a timer around them measures them (nothing to wait for on a CPU)."""
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()


def seconds(action: Callable[[], object]) -> float:
    synchronize()
    start = time.perf_counter()
    action()
    synchronize()
    return time.perf_counter() - start


GRAD_MODES: dict[str, Callable[[], contextlib.AbstractContextManager[object]]] = {
    "no_grad": torch.no_grad,
    "inference_mode": torch.inference_mode,
}


def bench_generation(policy: VideoLM, data: TaskData) -> None:
    policy.eval()
    test, train = data.eval, data.train[: len(data.eval)]
    greedy_tokens = caption_token_budget(policy.tokenizer, test, cap=512)
    sample_tokens = caption_token_budget(policy.tokenizer, train)
    print(
        f"generation: greedy over {len(test)} test prompts ({greedy_tokens} new tokens at most), "
        f"sampling over {len(train)} training prompts ({sample_tokens})"
    )

    def greedy(batch_size: int) -> None:
        frames = [data.frames[e.clip_id] for e in test]
        policy.generate(frames, [e.prompt for e in test], max_new_tokens=greedy_tokens, batch_size=batch_size)

    def sampling(batch_size: int) -> None:
        policy.generate(
            [data.frames[e.clip_id] for e in train],
            [e.prompt for e in train],
            do_sample=True,
            max_new_tokens=sample_tokens,
            generator=torch.Generator().manual_seed(0),
            batch_size=batch_size,
        )

    for batch_size in (64, 128, 256):
        for mode, context in GRAD_MODES.items():
            with context():
                greedy_s = seconds(lambda size=batch_size: greedy(size))
                sampling_s = seconds(lambda size=batch_size: sampling(size))
            print(f"  batch {batch_size:>3} {mode:<14} greedy {greedy_s:5.2f} s sampling {sampling_s:5.2f} s")


def preference_batches(policy: VideoLM, data: TaskData, count: int, device: torch.device) -> list[Batch]:
    """``count`` batches of ``PAIRS`` pairs: a clip's reference caption chosen, another clip's (same
    prompt) rejected, so lengths vary from batch to batch as real pairs' do."""
    rng = random.Random(0)
    train = [e for e in data.train if e.references]
    batches = []
    for _ in range(count):
        chosen = rng.sample(train, PAIRS)
        rejected = [rng.choice([o for o in train if o.prompt == e.prompt and o is not e]) for e in chosen]
        batch = policy.collate(
            [data.frames[e.clip_id] for e in chosen] * 2,
            [e.prompt for e in chosen] * 2,
            [e.references[0] for e in chosen] + [o.references[0] for o in rejected],
        )
        batches.append({k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()})
    return batches


class Trainer:
    """One copy of the policy with its own AdamW, stepping through the same batches."""

    def __init__(self, policy: VideoLM, compiled: bool) -> None:
        self.policy = copy.deepcopy(policy).train()
        self.optimizer = torch.optim.AdamW(self.policy.parameters(), lr=LR, fused=True)
        self.forward = torch.compile(self.policy) if compiled else self.policy
        self.loss = get_loss("synpo")
        self.times: list[float] = []

    def step(self, batch: Batch) -> float:
        synchronize()
        start = time.perf_counter()
        stats = sequence_stats(policy_logits(self.forward, batch), batch["labels"])
        out = self.loss(split_pairs(stats, None))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        synchronize()
        self.times.append(time.perf_counter() - start)
        return float(out.loss.detach())


def bench_training(policy: VideoLM, data: TaskData, steps: int) -> None:
    batches = preference_batches(policy, data, steps, policy.device)
    eager, compiled = Trainer(policy, False), Trainer(policy, True)
    losses: list[tuple[float, float]] = []
    for batch in batches:
        losses.append((eager.step(batch), compiled.step(batch)))
    first = 5
    eager_ms = statistics.median(eager.times[first:]) * 1e3
    compiled_ms = statistics.median(compiled.times[first:]) * 1e3
    lengths = sorted({int(b["input_ids"].shape[1]) for b in batches})
    print(f"training: {steps} synpo steps of {PAIRS} pairs, lengths {lengths[0]}-{lengths[-1]} tokens")
    print(f"  eager              median {eager_ms:6.1f} ms/step (after the first {first})")
    print(
        f"  torch.compile      median {compiled_ms:6.1f} ms/step; first {first} steps "
        f"{sum(compiled.times[:first]):.1f} s (eager: {sum(eager.times[:first]):.1f} s)"
    )
    print(
        f"  compiled/eager {compiled_ms / eager_ms:.3f}; total over {steps} steps "
        f"{sum(compiled.times):.1f} s vs {sum(eager.times):.1f} s; "
        f"max |loss diff| {max(abs(a - b) for a, b in losses):.2e}"
    )
    # A run trains every cell in one process: the next cell's copy compiles again, from a warm cache.
    again = Trainer(policy, True)
    for batch in batches[:first]:
        again.step(batch)
    saved_s = (eager_ms - compiled_ms) / 1e3
    extra = {
        "this copy (the process's first compile)": sum(compiled.times[:first]) - sum(eager.times[:first]),
        "the next cell's copy (warm in-process cache)": sum(again.times) - sum(eager.times[:first]),
    }
    for name, seconds_spent in extra.items():
        pays = (
            "never pays"
            if saved_s <= 0
            else "pays at once"
            if seconds_spent <= 0
            else f"pays after {seconds_spent / saved_s:.0f} steps"
        )
        print(f"  compile cost of {name}: {seconds_spent:.1f} s over eager's first {first} steps; {pays}")


def bench_optimizer(policy: VideoLM, repeats: int = 30) -> None:
    params = [p for p in copy.deepcopy(policy).parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p)
    n = sum(p.numel() for p in params)
    print(f"optimizer: one AdamW step over {len(params)} tensors ({n / 1e6:.2f} M parameters)")
    for name, options in {
        "for-loop": {"foreach": False},
        "foreach": {"foreach": True},
        "fused": {"fused": True},
    }.items():
        optimizer = torch.optim.AdamW(params, lr=LR, **options)
        optimizer.step()  # state allocated outside the timing
        times = [seconds(optimizer.step) for _ in range(repeats)]
        print(f"  {name:<9} median {statistics.median(times) * 1e3:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="preference steps per side (a cell's 60)")
    parser.add_argument("--only", default="generation,training,optimizer")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}")
    policy, vdc = load_default()
    policy.to(torch.device(args.device))
    chosen = set(args.only.split(","))
    benches: dict[str, Callable[[], None]] = {
        "optimizer": lambda: bench_optimizer(policy),
        "generation": lambda: bench_generation(policy, vdc),
        "training": lambda: bench_training(policy, vdc, args.steps),
    }
    for name, bench in benches.items():
        if name in chosen:
            bench()


if __name__ == "__main__":
    main()
