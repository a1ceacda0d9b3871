"""Scaling: time per step and peak memory of dpo with a live reference, dpo with a precomputed reference,
and synpo, as the sequence length doubles and as the model width doubles. Prints numbers; not a timed test.

    python benchmarks/bench_scaling.py [--steps 20] [--lengths 64,128,256] [--widths 128,256,512]
    on a GPU: --device cuda --dtype bf16 --lengths 512,1024,2048 --widths 1024,2048,4096

The model is a random-init LlamaForCausalLM (``--layers`` 2, ``--vocab`` 512, head size 32, MLP twice the
width) behind the engine's policy interface, trained by ``train_cell`` (synpo_bench/train.py) on one fixed
batch of ``--pairs`` pairs (a quarter of each row is prompt). The length axis runs at the first width, the
width axis at the first length. ``--dtype bf16`` is the harness's ``--precision bf16`` (accelerate's
autocast over float32 weights).

Time: per configuration, one process trains the three settings side by side, one optimizer step each in
turn (round robin, each cell in its own thread, one running at a time), so load from other processes hits
all three alike; a step is the engine's whole loop iteration. Printed: the median over ``--steps`` steps
after ``--warmup``.

Memory: each (configuration, setting) runs alone in a fresh process, one after another, for
``--memory-steps`` steps. On the CPU it is the engine's sampled peak RSS over training minus the RSS of the
process before the model was built (imports only); glibc is told to map every allocation of 64 KiB or more
on its own (``MALLOC_MMAP_THRESHOLD_``), so memory freed before training (the precompute pass's copy)
leaves RSS instead of inflating the peak. On CUDA it is the engine's peak allocated and peak reserved
memory (reset at the cell's start). Ratios are to the smallest point of the axis, and dpo (live) / synpo
(for time, the median over rounds of the ratio of the two steps of one round).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import torch
from accelerate import Accelerator
from torch import Tensor, nn
from transformers import LlamaConfig, LlamaForCausalLM

from synpo_bench.api.losses import get_loss
from synpo_bench.api.models import Batch
from synpo_bench.api.stats import IGNORE_INDEX
from synpo_bench.budgets import Budget
from synpo_bench.train import LiveReference, PrecomputedReference, TrainSettings, train_cell

SETTINGS = ("dpo (live)", "dpo (precomputed)", "synpo")
MMAP_THRESHOLD = str(64 * 1024)


@dataclass(frozen=True)
class Shape:
    length: int
    width: int
    pairs: int
    layers: int
    vocab: int
    device: str
    dtype: str

    def arguments(self) -> list[str]:
        return [f"--{key}={value}" for key, value in vars(self).items()]


# ------------------------------------------------------------------------------- inside a worker process


class TextPolicy(nn.Module):
    """A causal LM behind the engine's policy interface: ``(frames, input_ids, attention_mask) -> logits``."""

    def __init__(self, shape: Shape) -> None:
        super().__init__()
        torch.manual_seed(0)
        config = LlamaConfig(
            vocab_size=shape.vocab,
            hidden_size=shape.width,
            intermediate_size=2 * shape.width,
            num_hidden_layers=shape.layers,
            num_attention_heads=shape.width // 32,
            num_key_value_heads=shape.width // 32,
            max_position_embeddings=shape.length,
        )
        self.lm = LlamaForCausalLM(config)

    def forward(self, frames: Tensor | None, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.lm(input_ids=input_ids, attention_mask=attention_mask).logits


def fixed_batch(shape: Shape) -> Batch:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, shape.vocab, (2 * shape.pairs, shape.length), generator=generator)
    labels = ids.clone()
    labels[:, : shape.length // 4] = IGNORE_INDEX
    return {
        "frames": None,
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": labels,
        "pair_index": torch.arange(shape.pairs),
    }


OnStep = Callable[[int, object], None]


def train(
    shape: Shape, setting: str, steps: int, accelerator: Accelerator, on_step: OnStep | None = None
) -> dict:
    """``setting`` trained by the engine for ``steps`` steps on the fixed batch; returns its cost record."""
    policy, batch = TextPolicy(shape).to(shape.device), fixed_batch(shape)
    on_device = {k: v.to(shape.device) if isinstance(v, Tensor) else v for k, v in batch.items()}
    reference: LiveReference | PrecomputedReference | None = None
    if setting == "dpo (live)":
        reference = LiveReference(policy)
    elif setting == "dpo (precomputed)":
        reference = PrecomputedReference.compute(policy, [on_device], shape.pairs)
    with tempfile.TemporaryDirectory() as folder:
        outcome = train_cell(
            policy=policy,
            loss=get_loss(setting.split()[0]),
            make_batches=lambda epoch: iter([batch] * steps),
            budget=Budget("steps", steps),
            settings=TrainSettings(batch_size=shape.pairs, lr=1e-4),
            accelerator=accelerator,
            reference=reference,
            metrics_path=Path(folder) / "metrics.jsonl",
            on_step=on_step,
        )
    return outcome.cost


@dataclass
class RoundRobin:
    """Runs jobs in threads, one at a time, in turns; a job's turn ends at its next ``on_step``, so each
    recorded time is one whole loop iteration of that job's engine."""

    jobs: int
    times: list[list[float]] = field(init=False)
    _turn: int = 0
    _alive: list[bool] = field(init=False)
    _began: float = 0.0
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.times = [[] for _ in range(self.jobs)]
        self._alive = [True] * self.jobs

    def run(self, job: Callable[[int, OnStep], object]) -> None:
        threads = [threading.Thread(target=self._thread, args=(job, i)) for i in range(self.jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _thread(self, job: Callable[[int, OnStep], object], index: int) -> None:
        self._wait(index)
        try:
            job(index, lambda step, record: self._step_done(index))
        finally:
            self._alive[index] = False
            self._pass(index)

    def _step_done(self, index: int) -> None:
        self.times[index].append(time.perf_counter() - self._began)
        self._pass(index)
        self._wait(index)

    def _wait(self, index: int) -> None:
        with self._lock:
            self._lock.wait_for(lambda: self._turn == index)
        self._began = time.perf_counter()

    def _pass(self, index: int) -> None:
        with self._lock:
            following = [(index + k) % self.jobs for k in range(1, self.jobs + 1)]
            self._turn = next((j for j in following if self._alive[j]), index)
            self._lock.notify_all()


def time_worker(shape: Shape, steps: int, warmup: int) -> dict[str, list[float]]:
    accelerator = Accelerator(cpu=shape.device == "cpu", mixed_precision=_precision(shape.dtype))
    robin = RoundRobin(len(SETTINGS))
    robin.run(lambda i, on_step: train(shape, SETTINGS[i], steps + warmup, accelerator, on_step))
    return {name: robin.times[i][warmup:] for i, name in enumerate(SETTINGS)}


def memory_worker(shape: Shape, setting: str, steps: int) -> dict[str, str | float]:
    before = psutil.Process().memory_info().rss / 2**20
    accelerator = Accelerator(cpu=shape.device == "cpu", mixed_precision=_precision(shape.dtype))
    cost = train(shape, setting, steps, accelerator)
    peak = float(cost["peak_memory_mb"])
    if cost["memory_kind"] == "rss":
        return {"kind": "rss", "peak_mb": peak - before}
    return {"kind": "cuda", "peak_mb": peak, "reserved_mb": float(cost["peak_reserved_mb"])}


def _precision(dtype: str) -> str:
    return "bf16" if dtype == "bf16" else "no"


# ------------------------------------------------------------------------------------- the parent process


def run_worker(mode: str, shape: Shape, extra: list[str], env: dict[str, str] | None = None) -> dict:
    """A fresh Python process, waited for: one at a time, never in parallel."""
    command = [sys.executable, __file__, f"--worker={mode}", *shape.arguments(), *extra]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise SystemExit(f"worker failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass
class Point:
    shape: Shape
    ms: dict[str, float]
    live_over_synpo: float
    """The median over rounds of dpo (live)'s step time / synpo's in the same round."""
    memory: dict[str, dict]


def measure(shape: Shape, args: argparse.Namespace) -> Point:
    times = run_worker("time", shape, [f"--steps={args.steps}", f"--warmup={args.warmup}"])
    ms = {name: 1000 * statistics.median(values) for name, values in times.items()}
    rounds = zip(times["dpo (live)"], times["synpo"], strict=True)
    live_over_synpo = statistics.median(live / free for live, free in rounds)
    memory = {
        name: run_worker(
            "memory",
            shape,
            [f"--setting={name}", f"--memory-steps={args.memory_steps}"],
            {"MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD},
        )
        for name in SETTINGS
    }
    print(f"  measured {shape.length} tokens, width {shape.width}", file=sys.stderr, flush=True)
    return Point(shape, ms, live_over_synpo, memory)


def table(title: str, axis: str, points: list[Point]) -> str:
    """Markdown: per point, each setting's ms/step and memory with its ratio to the axis's smallest point,
    then dpo (live) / synpo (time: the median of the per-round ratios, steps adjacent in time)."""
    first = points[0]
    kind = first.memory[SETTINGS[0]]["kind"]
    memory_label = "MB above imports (RSS)" if kind == "rss" else "MB peak allocated / reserved (CUDA)"
    columns = [
        axis,
        *(f"{name} ms/step" for name in SETTINGS),
        *(f"{name} {memory_label}" for name in SETTINGS),
    ]
    columns += ["dpo (live) / synpo time", "dpo (live) / synpo memory"]
    lines = [f"{title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for point in points:
        value = point.shape.length if axis == "tokens" else point.shape.width
        cells = [str(value)]
        cells += [f"{point.ms[n]:.1f} ({point.ms[n] / first.ms[n]:.2f}x)" for n in SETTINGS]
        cells += [_memory_cell(point.memory[n], first.memory[n]) for n in SETTINGS]
        live, free = point.memory["dpo (live)"]["peak_mb"], point.memory["synpo"]["peak_mb"]
        cells += [f"{point.live_over_synpo:.2f}x", f"{live / free:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _memory_cell(memory: dict, first: dict) -> str:
    text = f"{memory['peak_mb']:,.0f} ({memory['peak_mb'] / first['peak_mb']:.2f}x)"
    if "reserved_mb" in memory:
        text += f" / {memory['reserved_mb']:,.0f} ({memory['reserved_mb'] / first['reserved_mb']:.2f}x)"
    return text


def _numbers(text: str) -> list[int]:
    return [int(value) for value in text.split(",")]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lengths", type=_numbers, default=[64, 128, 256], help="tokens per row")
    parser.add_argument("--widths", type=_numbers, default=[128, 256, 512], help="hidden sizes")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=512)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32", help="bf16: autocast, on CUDA")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per setting")
    parser.add_argument("--warmup", type=int, default=3, help="steps per setting run first and not timed")
    parser.add_argument("--memory-steps", type=int, default=3)
    parser.add_argument("--worker", choices=("time", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--setting", choices=SETTINGS, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    common = {k: getattr(args, k) for k in ("pairs", "layers", "vocab", "device", "dtype")}
    if args.worker:
        shape = Shape(length=args.length, width=args.width, **common)
        if args.worker == "time":
            print(json.dumps(time_worker(shape, args.steps, args.warmup)))
        else:
            print(json.dumps(memory_worker(shape, args.setting, args.memory_steps)))
        return
    base_length, base_width = args.lengths[0], args.widths[0]
    cache: dict[tuple[int, int], Point] = {}

    def point(length: int, width: int) -> Point:
        if (length, width) not in cache:
            cache[(length, width)] = measure(Shape(length=length, width=width, **common), args)
        return cache[(length, width)]

    by_length = [point(length, base_width) for length in args.lengths]
    by_width = [point(base_length, width) for width in args.widths]
    print(
        f"{args.device}, {args.dtype}, {args.pairs} pairs per step, {args.layers} layers, "
        f"vocab {args.vocab}; "
        f"time: median of {args.steps} interleaved steps per setting; ratios to the axis's first point\n"
    )
    print(table(f"Sequence length doubling (width {base_width})", "tokens", by_length) + "\n")
    print(table(f"Model width doubling ({base_length} tokens)", "width", by_width))


if __name__ == "__main__":
    main()
