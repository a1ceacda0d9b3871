"""Cost accounting for one training cell: phase timers, token counts and peak memory.

Every loss is measured by the same code at the same points, so a difference in cost is a difference in
what the loss needs (a reference forward, say), never in how it was measured.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil
import torch

PHASES = ("data", "policy_forward", "reference_forward", "backward", "optimizer")


class PeakMemory:
    """Peak memory over a block: CUDA max-allocated on a GPU, else process RSS sampled in a thread.

    On a GPU the caching allocator's peak reserved memory is read too (``peak_reserved_mb``): what the
    process held from the device, the figure nvidia-smi and out-of-memory errors go by, beside what
    tensors used; entering the block resets both peaks, so each cell reports its own. RSS has no
    per-block peak counter (``ru_maxrss`` is the process's lifetime peak), so a daemon thread samples it
    every few milliseconds; it only reads /proc, the same for every loss.
    """

    def __init__(self, device: torch.device, interval_s: float = 0.005) -> None:
        self.device = device
        self.kind = "cuda" if device.type == "cuda" else "rss"
        self._interval = interval_s
        self._peak = 0
        self._reserved: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self.kind == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._peak = psutil.Process().memory_info().rss
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        if self.kind == "cuda":
            self._peak = torch.cuda.max_memory_allocated(self.device)
            self._reserved = torch.cuda.max_memory_reserved(self.device)

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.wait(self._interval):
            self._peak = max(self._peak, process.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        if self.kind == "rss":  # include the latest reading if the block was shorter than one interval
            self._peak = max(self._peak, psutil.Process().memory_info().rss)
        return self._peak / 2**20

    @property
    def peak_reserved_mb(self) -> float | None:
        """The CUDA caching allocator's peak reserved memory; None for RSS, which has no such figure."""
        return None if self._reserved is None else self._reserved / 2**20


@dataclass
class CostMeter:
    """Wall-clock per phase, tokens, pairs and forward passes of one training cell."""

    device: torch.device
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    tokens: int = 0
    pairs_seen: int = 0
    forward_passes: int = 0
    steps: int = 0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase; on CUDA, synchronise at both ends so kernels are charged to their own phase."""
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name] += time.perf_counter() - start

    def summary(self, wall_clock_s: float, peak_memory: PeakMemory) -> dict[str, float | int | str]:
        steps = max(self.steps, 1)
        return {
            "wall_clock_s": wall_clock_s,
            "time_per_step_s": wall_clock_s / steps,
            "tokens_per_s": self.tokens / wall_clock_s if wall_clock_s > 0 else 0.0,
            "peak_memory_mb": peak_memory.peak_mb,
            **_reserved(peak_memory),
            "memory_kind": peak_memory.kind,
            "forward_passes": self.forward_passes,
            "steps": self.steps,
            "pairs_seen": self.pairs_seen,
            "tokens": self.tokens,
            **{f"{name}_s": self.seconds.get(name, 0.0) for name in PHASES},
        }


def _reserved(peak_memory: PeakMemory) -> dict[str, float]:
    """``peak_reserved_mb`` on a GPU; no key at all on the CPU, whose cost records stay as they were."""
    reserved = peak_memory.peak_reserved_mb
    return {} if reserved is None else {"peak_reserved_mb": reserved}
