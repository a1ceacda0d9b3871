"""Every check of a run's settings, in one place, made before any work (data, warm start, training).

The CLI parses text into a ``RunConfig`` (malformed text fails there, naming the option); everything a
well-formed setting can still get wrong (an unknown name, a choice out of range, a missing file, an
unusable judge, lm-eval task or device, an output folder that cannot be written) fails here.
"""

from __future__ import annotations

from pathlib import Path

from synpo_bench.api.errors import UserError
from synpo_bench.api.judges import make_judge
from synpo_bench.api.losses import get_loss
from synpo_bench.api.tasks import get_task
from synpo_bench.config import PRECISIONS, REF_MODES, RERUN_CHOICES, WORLD_SIZES_CHOICES, RunConfig
from synpo_bench.run.environment import resolve_device
from synpo_bench.tasks.metrics.lm_eval import check_lm_tasks


def validate_config(config: RunConfig) -> None:
    """Fail fast, before any work, on every name and setting the user could have mistyped."""
    _check_choice("--ref-mode", config.ref_mode, REF_MODES)
    _check_choice("--rerun", config.rerun, RERUN_CHOICES)
    _check_choice("--size", config.size, WORLD_SIZES_CHOICES)
    _check_choice("--precision", config.precision, PRECISIONS)
    for task in config.tasks:
        get_task(task)
    for loss in config.losses:
        get_loss(loss, **config.loss_params.get(loss, {}))
    for loss in config.loss_params:
        if loss not in config.losses:
            raise UserError(f"hyper-parameters given for loss '{loss}', which is not in --losses")
    if config.data_dir is not None and not config.data_dir.exists():
        raise UserError(f"--data-dir {config.data_dir}: no such file or directory")
    if config.pairs_file is not None and not config.pairs_file.is_file():
        raise UserError(f"--pairs {config.pairs_file}: no such file")
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
        probe = out / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UserError(f"output folder {out} is not writable: {error.strerror or error}") from None
