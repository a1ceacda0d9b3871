"""Every check of a run's settings, in one place, made before any work (data, warm start, training).

The CLI parses text into a ``RunConfig`` (malformed text fails there, naming the option); everything a
well-formed setting can still get wrong (an unknown name, a choice out of range, a missing file, an
unusable judge, lm-eval task or device, an output folder that cannot be written) fails here.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
import tempfile
from pathlib import Path

import torch

from synpo_bench.api.errors import UserError, check_plain_name
from synpo_bench.api.judges import make_judge
from synpo_bench.api.losses import get_loss
from synpo_bench.api.registry import UnknownNameError
from synpo_bench.api.stats import PairStats
from synpo_bench.api.tasks import TaskAdapter, get_task
from synpo_bench.config import (
    EXECUTORS,
    PRECISIONS,
    REF_MODES,
    RERUN_CHOICES,
    WORLD_SIZES_CHOICES,
    ExecutorSettings,
    RunConfig,
)
from synpo_bench.launch import launch_flag, launched_processes, processes_on_this_machine
from synpo_bench.models.build import is_vision_language
from synpo_bench.models.vision import VisionConfig
from synpo_bench.run.environment import resolve_device
from synpo_bench.tasks.data.pairs import RowReading, read_given_pairs
from synpo_bench.tasks.metrics.lm_eval import check_lm_tasks
from synpo_bench.tasks.metrics.lmms_eval import check_lmms_tasks
from synpo_bench.trackers import check_trackers
from synpo_bench.tuning import SHARED_KEYS, loss_key, loss_overrides, loss_settings

SEED_RANGE = (-(2**31), 2**32 - 1)
"""A seed is a 32-bit integer, signed or not: it seeds torch and the batch order (``seed * 100_003 +
epoch``), both 64-bit, so any 32-bit seed stays in range (a larger one overflowed after the warm start)."""


def validate_config(config: RunConfig) -> None:
    """Fail fast, before any work, on every name and setting the user could have mistyped."""
    _check_executor(config.executor)  # first: a machine without Slurm writes nothing, not even --out
    if config.executor.kind != "local" and config.processes > 1:
        raise UserError(
            f"--executor {config.executor.kind} submits the grid's jobs from one process; run it without "
            "accelerate launch / torchrun"
        )
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
    _check_tune(config)
    if config.data_dir is not None and not config.data_dir.exists():
        raise UserError(f"--data-dir {config.data_dir}: no such file or directory")
    if config.pairs_file is not None and not config.pairs_file.exists():
        raise UserError(f"--pairs {config.pairs_file}: no such file or folder")
    if config.pairs_file is not None:
        # Unreadable, or not one usable pair: refused before any work (clip ids: each task's load checks).
        read_given_pairs(config.pairs_file, RowReading(need_clip_id=False))
    if config.warm_start_steps is not None and config.warm_start_steps < 0:
        raise UserError(
            f"--warm-start-steps must be 0 (no warm start) or more, got {config.warm_start_steps}"
        )
    if config.warm_start_batch_size is not None and config.warm_start_batch_size < 1:
        raise UserError(f"--warm-start-batch-size must be at least 1, got {config.warm_start_batch_size}")
    if config.train.batch_size < 1 or config.train.grad_accum < 1:
        raise UserError("--batch-size and --grad-accum must be at least 1")
    step_pairs = config.train.batch_size * config.processes  # the smallest optimizer step
    if config.budget.kind == "pairs" and config.budget.value < step_pairs:
        raise UserError(
            f"budget {config.budget} is smaller than one batch ({step_pairs} pairs): "
            "not a single optimizer step would run"
        )
    _check_frame_encoder(config)
    if config.train_projector and (config.model is None or not is_vision_language(config.model)):
        raise UserError(
            "--train-projector applies to a vision-language --model (Qwen2-VL, LLaVA-OneVision, ...); the "
            "embedded video-LM's and a causal LM's frame encoder and projector always train"
        )
    check_trackers(config.report_to)  # unknown or not installed: before any training
    make_judge(config.judge, config.judge_model)  # a bad --judge fails here, before any training
    if config.nlp_tasks:
        check_lm_tasks(list(config.nlp_tasks))
    if config.lmms_tasks:  # lmms-eval installed, names known, data and judge there: before any training
        check_lmms_tasks(list(config.lmms_tasks), config.judge, config.judge_model)
    resolve_device(config.device)
    check_launch(config.device)
    _check_writable(config.out)


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"{option} '{value}': choose one of {', '.join(choices)}")


def _check_executor(executor: ExecutorSettings) -> None:
    """``--executor`` and its settings: a known kind, submitit installed, Slurm's commands on this machine,
    and no job setting given to the in-process executor (which would silently ignore it)."""
    _check_choice("--executor", executor.kind, EXECUTORS)
    given = {
        "--slurm-partition": executor.partition is not None,
        "--slurm-option": bool(executor.slurm_options),
        "--gpus-per-cell": executor.gpus_per_cell is not None,
        "--time-limit": executor.time_limit_min is not None,
        "--max-parallel": executor.max_parallel is not None,
    }
    slurm_only = ("--slurm-partition", "--slurm-option")
    for option in (o for o, is_given in given.items() if is_given):
        if executor.kind == "local" or (option in slurm_only and executor.kind != "slurm"):
            needs = "slurm" if option in slurm_only else "submitit-local or slurm"
            raise UserError(f"{option} applies to --executor {needs}, not --executor {executor.kind}")
    for option, value, low in (
        ("--gpus-per-cell", executor.gpus_per_cell, 0),
        ("--time-limit", executor.time_limit_min, 1),
        ("--max-parallel", executor.max_parallel, 1),
    ):
        if value is not None and value < low:
            raise UserError(f"{option} must be at least {low}, got {value}")
    if executor.kind == "local":
        return
    if executor.kind == "slurm":
        for command in ("sbatch", "srun"):  # submitit submits with sbatch and starts each job with srun
            if shutil.which(command) is None:
                raise UserError(
                    f"--executor slurm: '{command}' is not on this machine's PATH; submit from a Slurm "
                    "login node, or run the grid here with --executor local or submitit-local"
                )
    if importlib.util.find_spec("submitit") is None:
        raise UserError(f"--executor {executor.kind} needs submitit: pip install -e '.[cluster]'")


def check_launch(device: str) -> None:
    """A launch of several processes (``accelerate launch``, ``torchrun``) that this machine cannot run as
    asked: one line, before any process group exists (which would wait for processes that never come).
    Every process checks alike, so all of them stop."""
    count = launched_processes()
    if count == 1:
        return
    on_cpu = device == "cpu" or launch_flag("ACCELERATE_USE_CPU")
    sharded = [name for name in ("FSDP", "DEEPSPEED") if launch_flag(f"ACCELERATE_USE_{name}")]
    if device.startswith("cuda:") or device == "mps":
        raise UserError(
            f"--device {device} with {count} processes: each process takes its own GPU; leave --device at "
            "auto and choose the GPUs with accelerate launch --gpu_ids (or CUDA_VISIBLE_DEVICES)"
        )
    if on_cpu:
        if sharded:
            raise UserError(
                f"the accelerate config asks for {sharded[0]}, which needs GPUs; --device cpu cannot"
            )
        return
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    here = processes_on_this_machine()
    if gpus == 0:
        raise UserError(
            f"{count} processes were launched for GPUs, but this machine has no CUDA device; add --device "
            "cpu to train them data-parallel on the CPU (gloo), or launch one process"
        )
    if here > gpus:
        raise UserError(
            f"{here} processes were launched on this machine, but it has {gpus} CUDA device(s); launch at "
            f"most {gpus} (accelerate launch --num_processes {gpus}), one per GPU"
        )


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # a name of its own: runs sharing --out never race here
            pass
    except OSError as error:
        raise UserError(f"output folder {out} is not writable: {error.strerror or error}") from None


def _check_frame_encoder(config: RunConfig) -> None:
    """The project's frame encoder (the default model, or a causal LM's) reads fixed tubelets and regions;
    a vision-language checkpoint's processor takes any frames."""
    if config.model is not None and is_vision_language(config.model):
        return
    try:
        VisionConfig(frame_shape=(config.frames, config.frame_size, config.frame_size, 3)).validate()
    except ValueError as error:
        raise UserError(f"--frames {config.frames} --frame-size {config.frame_size}: {error}") from None


def _check_numbers(config: RunConfig) -> None:
    """Numbers that parse but can never train: refused here, not after the warm start."""
    low, high = SEED_RANGE
    for seed in config.seeds:
        if not low <= seed <= high:
            raise UserError(
                f"--seeds: seed {seed} is out of range; a seed is a 32-bit integer, {low} to {high}"
            )
    if config.frames < 2 or config.frame_size < 8:
        raise UserError(
            f"--frames {config.frames} --frame-size {config.frame_size}: a clip needs at least 2 frames "
            "of at least 8 x 8 pixels"
        )
    lr = config.train.lr
    if not math.isfinite(lr) or lr <= 0:
        raise UserError(f"--lr {lr}: the learning rate must be a positive, finite number")
    for loss, params in config.loss_params.items():
        for name, value in params.items():
            if not math.isfinite(value):
                raise UserError(f"--param {loss}.{name}={value}: must be a finite number")


def _check_tune(config: RunConfig) -> None:
    """``--tune``: known keys of losses in the run, non-empty lists of distinct values, each one a value
    the loss accepts (built and called once on fixed statistics: ``_probe``), on tasks it can choose on."""
    for key, values in config.tune.items():
        found = loss_key(key)
        if found is None and key not in SHARED_KEYS:
            raise UserError(
                f"--tune {key}: unknown key; tune {', '.join(SHARED_KEYS)} or LOSS.PARAM, e.g. dpo.beta"
            )
        if found is not None:
            loss, name = found
            try:
                default = get_loss(check_plain_name("loss", loss))
            except UnknownNameError as error:  # its message names the valid losses
                raise UserError(f"--tune {key}: {error}") from None
            if loss not in config.losses:
                raise UserError(
                    f"--tune {key}: loss '{loss}' is not in --losses ({', '.join(config.losses)})"
                )
            if name not in default.params:
                valid = ", ".join(default.params) or "none"
                raise UserError(
                    f"--tune {key}: loss '{loss}' has no hyper-parameter '{name}'; valid: {valid}"
                )
            if name in config.loss_params.get(loss, {}):
                raise UserError(f"--tune {key}: also fixed by --param {key}; give it in one of the two")
        if not values:
            raise UserError(f"--tune {key}: empty list; give at least one value, e.g. {key}=1e-5,3e-5")
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise UserError(
                f"--tune {key}: value {repeated[0]!r} is listed twice; each setting is trained once"
            )
        for value in values:
            _check_tune_value(key, value)
    if not config.tune:
        return
    for loss in config.losses:
        for setting in loss_settings(config.tune, loss):
            _probe(config, loss, setting)
    for task in config.tasks:
        adapter = get_task(task)
        if adapter.item_scores is TaskAdapter.item_scores and adapter.score is TaskAdapter.score:
            raise UserError(
                f"--tune: task '{task}' writes no per-example scores, so its evaluation items cannot be "
                "split into a validation part to choose on and a test part to report; run it without --tune"
            )


def _check_tune_value(key: str, value: float) -> None:
    if not math.isfinite(value):
        raise UserError(f"--tune {key}={value}: must be a finite number")
    if key in ("lr", "max_grad_norm") and value <= 0:
        raise UserError(f"--tune {key}={value!r}: {SHARED_KEYS[key]}; must be above 0")
    if key == "weight_decay" and value < 0:
        raise UserError(f"--tune {key}={value!r}: {SHARED_KEYS[key]}; must not be negative")
    if key == "warmup_ratio" and not 0 <= value < 1:
        raise UserError(f"--tune {key}={value!r}: {SHARED_KEYS[key]}; must be at least 0 and below 1")


PROBE = PairStats(
    chosen_logp_sum=torch.tensor([-8.0, -15.0]),
    rejected_logp_sum=torch.tensor([-9.0, -12.0]),
    chosen_n_tokens=torch.tensor([6.0, 10.0]),
    rejected_n_tokens=torch.tensor([7.0, 9.0]),
    chosen_p_mean=torch.tensor([0.4, 0.3]),
    rejected_p_mean=torch.tensor([0.35, 0.32]),
    ref_chosen_logp_sum=torch.tensor([-8.5, -14.0]),
    ref_rejected_logp_sum=torch.tensor([-8.8, -12.5]),
)
"""Plausible statistics of two pairs: a tuned value that makes a loss raise or go non-finite on them
(``ipo.tau=0`` divides by zero) is refused before any training, not at the first step of its cell."""


def _probe(config: RunConfig, loss: str, setting: tuple[tuple[str, float], ...]) -> None:
    tuned = loss_overrides(setting, loss)
    if not tuned:
        return  # nothing tuned for this loss: its --param values are checked as in a shared run
    params = {**config.loss_params.get(loss, {}), **tuned}
    try:
        get_loss(loss, diagnostics=False, **params)(PROBE)
    except Exception as error:  # whatever the loss raises on the value, it cannot train with it
        shown = ", ".join(f"{loss}.{name}={value!r}" for name, value in tuned.items())
        raise UserError(f"--tune {shown}: loss '{loss}' rejects it ({error})") from None
