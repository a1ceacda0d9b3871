"""Every check of a run's settings, in one place, made before any work (data, warm start, training).

The CLI parses text into a ``RunConfig`` (malformed text fails there, naming the option); everything a
well-formed setting can still get wrong (an unknown name, a choice out of range, a missing file, an
unusable judge, lm-eval task or device, an output folder that cannot be written) fails here.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from synpo_bench.api.errors import UserError, check_plain_name
from synpo_bench.api.judges import make_judge
from synpo_bench.api.losses import get_loss
from synpo_bench.api.tasks import get_task
from synpo_bench.config import PRECISIONS, REF_MODES, RERUN_CHOICES, WORLD_SIZES_CHOICES, RunConfig
from synpo_bench.run.environment import resolve_device
from synpo_bench.tasks.data.pairs import read_given_pairs
from synpo_bench.tasks.metrics.lm_eval import check_lm_tasks

SEED_RANGE = (-(2**31), 2**32 - 1)
"""A seed is a 32-bit integer, signed or not: it seeds torch and the batch order (``seed * 100_003 +
epoch``), both 64-bit, so any 32-bit seed stays in range (a larger one overflowed after the warm start)."""


def validate_config(config: RunConfig) -> None:
    """Fail fast, before any work, on every name and setting the user could have mistyped."""
    _check_choice("--ref-mode", config.ref_mode, REF_MODES)
    _check_choice("--rerun", config.rerun, RERUN_CHOICES)
    _check_choice("--size", config.size, WORLD_SIZES_CHOICES)
    _check_choice("--precision", config.precision, PRECISIONS)
    # The run id, task and loss names become folders under --out: none may lead out of it.
    if config.run_id:
        check_plain_name("--run-id", config.run_id)
    for task in config.tasks:
        get_task(check_plain_name("task", task))
    for loss in config.losses:
        get_loss(check_plain_name("loss", loss), **config.loss_params.get(loss, {}))
    for loss in config.loss_params:
        if loss not in config.losses:
            raise UserError(f"hyper-parameters given for loss '{loss}', which is not in --losses")
    _check_numbers(config)
    if config.data_dir is not None and not config.data_dir.exists():
        raise UserError(f"--data-dir {config.data_dir}: no such file or directory")
    if config.pairs_file is not None and not config.pairs_file.is_file():
        raise UserError(f"--pairs {config.pairs_file}: no such file")
    if config.pairs_file is not None:
        read_given_pairs(config.pairs_file)  # unreadable, or not one usable pair: refused before any work
    if config.warm_start_steps is not None and config.warm_start_steps < 1:
        raise UserError(f"--warm-start-steps must be at least 1, got {config.warm_start_steps}")
    if config.warm_start_batch_size is not None and config.warm_start_batch_size < 1:
        raise UserError(f"--warm-start-batch-size must be at least 1, got {config.warm_start_batch_size}")
    if config.train.batch_size < 1 or config.train.grad_accum < 1:
        raise UserError("--batch-size and --grad-accum must be at least 1")
    if config.budget.kind == "pairs" and config.budget.value < config.train.batch_size:
        raise UserError(
            f"budget {config.budget} is smaller than one batch ({config.train.batch_size} pairs): "
            "not a single optimizer step would run"
        )
    make_judge(config.judge, config.judge_model)  # a bad --judge fails here, before any training
    if config.nlp_tasks:
        check_lm_tasks(list(config.nlp_tasks))
    resolve_device(config.device)
    _check_writable(config.out)


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"{option} '{value}': choose one of {', '.join(choices)}")


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # a name of its own: runs sharing --out never race here
            pass
    except OSError as error:
        raise UserError(f"output folder {out} is not writable: {error.strerror or error}") from None


def _check_numbers(config: RunConfig) -> None:
    """Numbers that parse but can never train: refused here, not after the warm start."""
    low, high = SEED_RANGE
    for seed in config.seeds:
        if not low <= seed <= high:
            raise UserError(
                f"--seeds: seed {seed} is out of range; a seed is a 32-bit integer, {low} to {high}"
            )
    lr = config.train.lr
    if not math.isfinite(lr) or lr <= 0:
        raise UserError(f"--lr {lr}: the learning rate must be a positive, finite number")
    for loss, params in config.loss_params.items():
        for name, value in params.items():
            if not math.isfinite(value):
                raise UserError(f"--param {loss}.{name}={value}: must be a finite number")
