"""synpo-bench against TRL on one model and one pair set: first-batch loss, time per step, peak memory.

    pip install -e '.[bench]'          # TRL, pinned
    python benchmarks/bench_trl.py [--steps 40] [--losses dpo,simpo] [--device cuda --dtype bf16
                                    --width 1536 --layers 16 --vocab 32000]

Per shared loss (trl_parity.SHARED: DPOTrainer's sigmoid, ipo, nca_pair, apo_zero; CPOTrainer's hinge,
simpo, sigmoid (CPO); ORPOTrainer), both libraries train a copy of the same seeded Llama on the same
pairs, every step over all of them, with the same AdamW, schedule, clipping and precision and a live
frozen reference of another seed where the loss needs one. Printed:

* first-batch loss, ours and TRL's, and their difference (for CPO and ORPO also with TRL's NLL term
  replaced by ours: the two average it differently, see trl_parity);
* time per step: both train in one process, in two threads that take strict turns at whole optimizer
  steps (ours, TRL, ours, TRL, ...), so machine load drifts hit both alike. A step is timed from the
  moment its thread gets its turn with the batch in hand to the end of the optimizer step (CUDA
  synchronised at both ends): for TRL from the Trainer's on_step_begin to its on_step_end callback
  (training_step with the reference forward, clipping, optimizer and scheduler), for ours from the
  engine's batch fetch to its on_step hook (the same work plus its per-step metrics line). Left out on
  both sides: data loading and collation (TRL's DataLoader; ours has the batch prebuilt) and what runs
  between steps (TRL's logging). A thread keeps its turn through its between-step work, so the other
  never runs beside it. The first --warmup-steps steps are dropped; the ratio is the median over steps
  of ours / TRL for the same step number, with its interquartile range. --aa also times ours against
  ours in the same harness: its own bias and noise on the machine;
* peak memory: each library alone in a fresh process (`--probe`), from building its trainer to the end
  of --memory-steps steps: RSS sampled every 5 ms on the CPU (synpo_bench.costs.PeakMemory, the engine's
  meter; glibc told to map allocations of 64 KiB or more on their own, so freed memory leaves RSS),
  torch.cuda.max_memory_allocated on a GPU; "train" is the peak less the memory before (the models and
  pairs built, the libraries imported). On the CPU with a small model it is mostly code and caches the
  first run loads (TRL's data-set preparation, transformers' Trainer), not tensors.
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
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import datasets
import psutil
import torch
import transformers
import trl
from transformers import PrinterCallback, TrainerCallback
from trl_inputs import ModelShape, make_pairs
from trl_parity import (
    SHARED,
    RunSettings,
    Setup,
    SharedLoss,
    engine_train,
    first_batch,
    shared_loss,
    trl_trainer,
)

from synpo_bench.costs import PeakMemory


class Turns:
    """Two threads take strict turns at whole steps. A thread keeps the turn from the start of a step
    until it is about to start its next one, so its between-step work never overlaps the other's step."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._turn = 0
        self._started = [False, False]
        self._done = [False, False]

    def take(self, party: int) -> None:
        with self._cond:
            if self._started[party]:
                self._turn = 1 - party
                self._cond.notify_all()
            self._started[party] = True
            self._cond.wait_for(lambda: self._turn == party or self._done[1 - party])

    def finish(self, party: int) -> None:
        with self._cond:
            self._done[party] = True
            self._turn = 1 - party
            self._cond.notify_all()


class StepClock:
    def __init__(self, turns: Turns, party: int, device: torch.device) -> None:
        self.turns, self.party, self.device = turns, party, device
        self.times: list[float] = []
        self._start = 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def begin(self) -> None:
        self.turns.take(self.party)
        self._sync()
        self._start = time.perf_counter()

    def end(self) -> None:
        self._sync()
        self.times.append(time.perf_counter() - self._start)


class ClockCallback(TrainerCallback):
    def __init__(self, clock: StepClock) -> None:
        self.clock = clock

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.begin()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.end()


Work = Callable[[StepClock], object]
"""One library's training run, calling its clock's begin() and end() around each step."""


def interleaved(works: tuple[Work, Work], device: torch.device) -> tuple[list[float], list[float]]:
    """Per-step seconds of two runs whose steps are taken in turns, each run in a thread of its own with
    the same torch thread count (OpenMP's count belongs to the calling thread: a new thread would
    otherwise run with its own default)."""
    turns = Turns()
    clocks = (StepClock(turns, 0, device), StepClock(turns, 1, device))
    threads = torch.get_num_threads()
    failures: list[BaseException] = []

    def side(party: int) -> threading.Thread:
        def run() -> None:
            torch.set_num_threads(threads)
            try:
                works[party](clocks[party])
            except BaseException as error:  # re-raised below, in the calling thread
                failures.append(error)
            finally:
                turns.finish(party)

        return threading.Thread(target=run)

    workers = [side(0), side(1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    return clocks[0].times, clocks[1].times


def ours_work(setup: Setup, spec: SharedLoss) -> Work:
    """The engine, its step timed from its batch fetch to its on_step hook."""

    def work(clock: StepClock) -> None:
        def batches(epoch: int) -> Iterator[dict[str, Any]]:
            while True:
                clock.begin()
                yield setup.batch

        engine_train(setup, spec.name, spec.params, make_batches=batches, on_step=lambda *_: clock.end())

    return work


def trl_work(setup: Setup, spec: SharedLoss, folder: Path) -> Work:
    """TRL's trainer (built now, outside the timing), its step timed from on_step_begin to on_step_end."""
    trainer = trl_trainer(setup, spec, folder)
    trainer.remove_callback(PrinterCallback)

    def work(clock: StepClock) -> None:
        trainer.add_callback(ClockCallback(clock))
        trainer.train()

    return work


def used_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device) / 2**20
    return psutil.Process().memory_info().rss / 2**20


def probe(setup: Setup, spec: SharedLoss, side: str, folder: Path) -> dict[str, float]:
    """One library alone: memory before, and the peak from building its trainer to its last step."""
    device = torch.device(setup.run.device)
    start = used_mb(device)
    with PeakMemory(device) as peak:
        if side == "trl":
            trl_trainer(setup, spec, folder).train()
        else:
            engine_train(setup, spec.name, spec.params)
    return {"start_mb": start, "peak_mb": peak.peak_mb}


def shape_args(args: argparse.Namespace) -> list[str]:
    names = ("vocab", "width", "layers", "heads", "intermediate", "pairs", "length", "device", "dtype", "lr")
    names += ("threads",)
    return [part for name in names for part in (f"--{name}", str(getattr(args, name)))]


def run_probe(args: argparse.Namespace, name: str, side: str) -> dict[str, float]:
    command = [sys.executable, __file__, *shape_args(args), "--probe", side, "--losses", name]
    command += ["--steps", str(args.memory_steps)]
    # glibc maps every allocation of 64 KiB or more on its own, so freed memory leaves RSS (as bench_scaling)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(64 * 1024)}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe {side}:{name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    low, mid, high = statistics.quantiles(values, n=4)
    return low, mid, high


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--losses", default=",".join(s.name for s in SHARED))
    parser.add_argument("--steps", type=int, default=40, help="timed optimizer steps per library and loss")
    parser.add_argument("--warmup-steps", type=int, default=5, help="first steps left out of the medians")
    parser.add_argument("--memory-steps", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true", help="skip the per-library memory processes")
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--length", type=int, default=96, help="longest row: prompt + response + EOS")
    parser.add_argument("--vocab", type=int, default=512)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=0, help="default: max(4, width // 64)")
    parser.add_argument("--intermediate", type=int, default=0, help="default: 2 x width")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"), help="bf16: autocast, on CUDA")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--aa", action="store_true", help="also time ours against ours: the harness's noise")
    parser.add_argument("--probe", choices=("ours", "trl"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.heads = args.heads or max(4, args.width // 64)
    args.intermediate = args.intermediate or 2 * args.width
    if args.width % args.heads:
        parser.error(f"--width {args.width} is not a multiple of --heads {args.heads}")
    if args.dtype == "bf16" and args.device != "cuda":
        parser.error("--dtype bf16 needs --device cuda")
    return args


def build_setup(args: argparse.Namespace, steps: int) -> Setup:
    shape = ModelShape(args.vocab, args.width, args.layers, args.heads, args.intermediate)
    run = RunSettings(steps=steps, lr=args.lr, device=args.device, bf16=args.dtype == "bf16")
    return Setup.build(shape, make_pairs(args.pairs, args.length, shape), run)


def print_parity(setup: Setup, specs: list[SharedLoss]) -> None:
    print("\n| loss | TRL | ours | TRL's | abs diff | with TRL's NLL as ours | note |")
    print("|---|---|---|---|---|---|---|")
    for spec in specs:
        result = first_batch(setup, spec)
        swapped = f"{abs(result.ours - result.trl_with_our_nll):.2g}" if result.trl_nll is not None else "-"
        setting = ", ".join(f"{k}={v}" for k, v in spec.trl.items())
        print(
            f"| {spec.name} | {spec.trainer.upper()}Trainer({setting}) | {result.ours:.10g} | "
            f"{result.trl:.10g} | {result.diff:.2g} | {swapped} | {spec.note} |"
        )


def time_cells(ours: list[float], theirs: list[float], skip: int) -> list[str]:
    ratios = [a / b for a, b in zip(ours[skip:], theirs[skip:], strict=False)]
    low, mid, high = quartiles(ratios)
    return [
        f"{1000 * statistics.median(ours[skip:]):.1f}",
        f"{1000 * statistics.median(theirs[skip:]):.1f}",
        f"{mid:.2f} ({low:.2f}-{high:.2f})",
    ]


def memory_cells(args: argparse.Namespace, name: str) -> list[str]:
    if args.no_memory:
        return ["-"] * 4
    mine, other = run_probe(args, name, "ours"), run_probe(args, name, "trl")
    return [
        f"{mine['peak_mb']:.0f}",
        f"{other['peak_mb']:.0f}",
        f"{mine['peak_mb'] / other['peak_mb']:.2f}",
        f"{mine['peak_mb'] - mine['start_mb']:.0f} / {other['peak_mb'] - other['start_mb']:.0f}",
    ]


def print_costs(args: argparse.Namespace, setup: Setup, specs: list[SharedLoss]) -> None:
    print(
        "\n| loss | ms/step ours | ms/step TRL | time ratio ours/TRL (IQR) | peak MB ours | peak MB TRL "
        "| peak ratio | train MB ours / TRL |"
    )
    print("|---|---|---|---|---|---|---|---|")
    device = torch.device(setup.run.device)
    for spec in specs:
        with tempfile.TemporaryDirectory() as folder:
            times = interleaved((ours_work(setup, spec), trl_work(setup, spec, Path(folder))), device)
        cells = [spec.name, *time_cells(*times, args.warmup_steps), *memory_cells(args, spec.name)]
        print("| " + " | ".join(cells) + " |", flush=True)
    if args.aa:
        times = interleaved((ours_work(setup, specs[0]), ours_work(setup, specs[0])), device)
        ms_a, ms_b, ratio = time_cells(*times, args.warmup_steps)
        print(f"\nThe harness against itself ({specs[0].name}, ours vs ours): {ratio} ({ms_a} vs {ms_b} ms)")


def main() -> None:
    args = parse()
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)  # TRL 1.16 on transformers 5: deprecated names
    datasets.disable_progress_bars()
    torch.set_num_threads(args.threads)
    specs = [shared_loss(name.strip()) for name in args.losses.split(",") if name.strip()]
    if args.probe:
        setup = build_setup(args, args.steps)
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(probe(setup, specs[0], args.probe, Path(folder))))
        return
    setup = build_setup(args, args.steps)
    params = sum(p.numel() for p in setup.start.parameters())
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}; "
        f"{args.device} {args.dtype}, {torch.get_num_threads()} threads, pid {os.getpid()}\n"
        f"Llama {params:,} parameters (vocab {args.vocab}, width {args.width}, {args.layers} layers); "
        f"{args.pairs} pairs per step, rows up to {args.length} tokens; {args.steps} steps "
        f"({args.warmup_steps} left out), lr {args.lr:g}"
    )
    print_parity(setup, specs)
    print_costs(args, setup, specs)


if __name__ == "__main__":
    main()
