"""What a training cell is told (``TrainSettings``) and what each step reports (``StepRecord``).

Apart from ``synpo_bench/train.py`` so that the settings, the run configuration and the command line's
options can be read without importing torch: ``synpo-bench --help``, ``report`` and ``status`` start in
about a second.
"""

from __future__ import annotations

from dataclasses import dataclass

StepRecord = dict[str, float | str]
"""One metrics.jsonl line: numbers, and the step's ``batch_hash``."""

DEFAULT_LR = 3e-5
"""Peak preference-training rate of the embedded default (README, "What the default run shows"): the lowest
of 1e-5, 2e-5, 3e-5, 5e-5 at which a loss moves VDC detectably. Real checkpoints want 5e-7-1e-6."""


@dataclass(frozen=True)
class TrainSettings:
    batch_size: int = 16
    """Preference pairs per micro-batch (the forward pass sees twice as many rows)."""
    grad_accum: int = 1
    lr: float = DEFAULT_LR
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    log_every: int = 1
