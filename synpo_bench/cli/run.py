"""``synpo-bench run``: options -> RunConfig -> validation -> the grid, with progress and a summary."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from synpo_bench.api.registry import import_plugins
from synpo_bench.budgets import Budget
from synpo_bench.cli.config_file import load_config, write_resolved_config
from synpo_bench.cli.errors import console, errors, styled_line, user_errors
from synpo_bench.cli.parsing import (
    parse_key_values,
    parse_params,
    parse_seeds,
    parse_tune,
    split_names,
    split_tasks,
)
from synpo_bench.cli.progress import RichObserver
from synpo_bench.config import (
    DEFAULT_LOSSES,
    DEFAULT_NLP_TASKS,
    DEFAULT_TASKS,
    NLP_PREFIX,
    ExecutorSettings,
    RunConfig,
    Shard,
    default_cache_dir,
)
from synpo_bench.launch import is_main_launch_process, launched_processes
from synpo_bench.reports.run_summary import run_summary
from synpo_bench.run.observer import RunObserver
from synpo_bench.train_settings import DEFAULT_LR, TrainSettings


def run_command(
    ctx: typer.Context,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help='A TOML (or YAML) file of options by name, e.g. losses = ["dpo", "synpo"], budget = '
            '"steps=60", lora = true; flags given here override it. Every run folder holds its resolved '
            "options as config.toml: --config results/RUN/config.toml replays that run.",
            is_eager=True,
            callback=load_config,
        ),
    ] = None,
    losses: Annotated[str, typer.Option(help="Comma-separated losses (see `list losses`).")] = ",".join(
        DEFAULT_LOSSES
    ),
    tasks: Annotated[
        str,
        typer.Option(
            help="Comma-separated tasks to train and evaluate on (see `list tasks`); names after 'nlp:' "
            "are lm-eval tasks every trained model is also scored on, e.g. vdc,nlp:synpo_mc,arc_easy; "
            "names after 'lmms:' are lmms-eval video tasks (pip install -e '.[lmms]'), e.g. "
            "vdc,lmms:synpo_vatex,synpo_vdc."
        ),
    ] = ",".join((*DEFAULT_TASKS, *(NLP_PREFIX + name for name in DEFAULT_NLP_TASKS))),
    seeds: Annotated[
        str, typer.Option(help="Comma-separated training seeds; each is a separate cell.")
    ] = "0",
    budget: Annotated[
        str,
        typer.Option(help="Same for every loss: steps=N optimizer steps, pairs=N pairs seen, or seconds=S."),
    ] = "steps=60",
    out: Annotated[Path, typer.Option(help="Results folder; each run gets a sub-folder.")] = Path("results"),
    run_id: Annotated[
        str | None,
        typer.Option(help="Name of the run folder (default: a hash of the settings, so re-runs resume)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="A local Hugging Face checkpoint path or cached name (default: the tiny video-LM): a "
            "vision-language model (Qwen2-VL, Qwen2.5-VL, LLaVA-OneVision, ...) with its processor, or a "
            "causal LM that gets a frame encoder."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder with the benchmark's real annotation files and videos.")
    ] = None,
    pairs: Annotated[
        Path | None,
        typer.Option(
            help="Preference pairs to use as given: JSON Lines, parquet or a datasets save_to_disk folder; "
            "rows in TRL's standard (prompt, chosen, rejected), implicit-prompt or conversational format, or "
            "UltraFeedback-binarized columns. A video task's pairs also need clip_id."
        ),
    ] = None,
    size: Annotated[str, typer.Option(help="Embedded world size: tiny or default.")] = "default",
    ref_mode: Annotated[
        str, typer.Option(help="Reference model for losses that need one: live (frozen copy) or precomputed.")
    ] = "live",
    batch_size: Annotated[int, typer.Option(help="Preference pairs per micro-batch.")] = 16,
    grad_accum: Annotated[int, typer.Option(help="Micro-batches per optimizer step.")] = 1,
    lr: Annotated[
        float, typer.Option(help="Peak learning rate (AdamW, linear warm-up and decay); same for every loss.")
    ] = DEFAULT_LR,
    param: Annotated[
        list[str] | None, typer.Option(help="Loss hyper-parameter override LOSS.NAME=VALUE (repeatable).")
    ] = None,
    tune: Annotated[
        list[str] | None,
        typer.Option(
            help="Tune instead of sharing: KEY=V1,V2,... (repeatable), KEY a training key (lr, warmup_ratio, "
            "weight_decay, max_grad_norm; overrides --lr) or LOSS.PARAM, e.g. --tune lr=1e-5,3e-5 --tune "
            "dpo.beta=0.05,0.1. Each loss trains every setting; the report picks its best on a validation "
            "part of the eval items and shows it on the rest."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    precision: Annotated[str, typer.Option(help="Mixed precision: no, fp16 or bf16.")] = "no",
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters (peft) instead of all weights.")] = False,
    judge: Annotated[
        str,
        typer.Option(
            help="Caption judge for VDC-style scoring: exact (ground-truth facts of the embedded world), "
            "an OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (key from OPENAI_API_KEY), "
            "or hf:PATH, a local Hugging Face chat model run in-process."
        ),
    ] = "exact",
    judge_model: Annotated[str | None, typer.Option(help="Model name to ask, with an HTTP --judge.")] = None,
    warm_start_steps: Annotated[
        int | None,
        typer.Option(
            help="SFT steps of the shared warm start (default: about 11 passes over the training "
            "captions, 40 to 1500 steps; cached, so only the first run pays)."
        ),
    ] = None,
    warm_start_batch_size: Annotated[
        int | None,
        typer.Option(
            help="Examples per SFT step of the warm start (default 32). Lower it to fit a big --model "
            "in memory; the step count stays the same, so the warm start sees fewer examples."
        ),
    ] = None,
    frames: Annotated[
        int, typer.Option(help="Frames per clip, sampled uniformly from each video (or rendered).")
    ] = 8,
    frame_size: Annotated[int, typer.Option(help="Each frame resized to SIZE x SIZE pixels.")] = 32,
    no_warm_start: Annotated[
        bool,
        typer.Option(
            "--no-warm-start",
            help="Start preference training from --model as it is, without the SFT warm start (for a "
            "checkpoint that already captions; same as --warm-start-steps 0).",
        ),
    ] = False,
    train_projector: Annotated[
        bool,
        typer.Option(
            help="With a vision-language --model: train its projector too (its vision tower stays frozen)."
        ),
    ] = False,
    save_policies: Annotated[
        bool,
        typer.Option(
            help="Write each cell's trained policy to CELL/policy: LoRA adapters (peft) or the weights, "
            "with the processor, loadable with from_pretrained."
        ),
    ] = False,
    shard: Annotated[str, typer.Option(help="Run slice i of n of the grid (0-based), e.g. 0/4.")] = "0/1",
    rerun: Annotated[str, typer.Option(help="Re-run finished cells: none, failed or all.")] = "none",
    plugin: Annotated[
        list[str] | None,
        typer.Option(help="Import a module that registers extra losses or tasks (repeatable)."),
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Warm-start and pair cache (default ~/.cache/synpo-bench).")
    ] = None,
    report_to: Annotated[
        str | None,
        typer.Option(
            help="Experiment trackers, comma-separated: tensorboard, wandb, trackio, mlflow (each installed "
            "separately); one tracker run per cell with its per-step metrics, final quality and cost."
        ),
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            help="Where the cells run: local (this process), submitit-local (one submitit job per cell on "
            "this machine, --max-parallel at a time) or slurm (a Slurm job array; pip install -e "
            "'.[cluster]'). Either way the warm start and pairs are computed once (--cache-dir)."
        ),
    ] = "local",
    slurm_partition: Annotated[str | None, typer.Option(help="--executor slurm: the partition.")] = None,
    slurm_option: Annotated[
        list[str] | None,
        typer.Option(help="--executor slurm: an sbatch option KEY=VALUE (repeatable), e.g. account=proj."),
    ] = None,
    gpus_per_cell: Annotated[
        int | None,
        typer.Option(help="GPUs per cell's job (default: none on Slurm, all visible with submitit-local)."),
    ] = None,
    time_limit: Annotated[
        int | None, typer.Option(help="Minutes each submitit job may run (default 120).")
    ] = None,
    max_parallel: Annotated[
        int | None,
        typer.Option(help="Cells' jobs running at once (default: 1 with submitit-local, all on Slurm)."),
    ] = None,
) -> None:
    """Train every loss on every task under the same budget, evaluate, and print a summary table.

    Finished cells are skipped, so re-running the same command resumes an interrupted run.
    """
    with user_errors():
        import_plugins(plugin or [])
        video_tasks, nlp_tasks, lmms_tasks = split_tasks(tasks)
        config = RunConfig(
            losses=split_names(losses, "--losses"),
            tasks=video_tasks,
            nlp_tasks=nlp_tasks,
            lmms_tasks=lmms_tasks,
            seeds=parse_seeds(seeds),
            budget=Budget.parse(budget),
            out=out,
            run_id=run_id,
            model=model,
            data_dir=data_dir,
            pairs_file=pairs,
            size=size,
            ref_mode=ref_mode,
            train=TrainSettings(batch_size=batch_size, grad_accum=grad_accum, lr=lr),
            loss_params=parse_params(param or []),
            tune=parse_tune(tune or []),
            device=device,
            precision=precision,
            lora=lora,
            warm_start_steps=0 if no_warm_start else warm_start_steps,
            train_projector=train_projector,
            frames=frames,
            frame_size=frame_size,
            save_policies=save_policies,
            warm_start_batch_size=warm_start_batch_size,
            judge=judge,
            judge_model=judge_model,
            shard=Shard.parse(shard),
            rerun=rerun,
            cache_dir=cache_dir or default_cache_dir(),
            report_to=split_names(report_to, "--report-to") if report_to is not None else (),
            processes=launched_processes(),  # accelerate launch / torchrun: each cell data-parallel
            executor=ExecutorSettings(
                kind=executor,
                partition=slurm_partition,
                gpus_per_cell=gpus_per_cell,
                time_limit_min=time_limit,
                max_parallel=max_parallel,
                slurm_options=parse_key_values(slurm_option or [], "--slurm-option"),
            ),
        )
        # Imported here, not at the top: the engine imports torch, transformers and lm-eval, which
        # `report`, `check`, `status` and `--help` never need (they start in about a second).
        from transformers.utils import logging as transformers_logging

        from synpo_bench.cli.submit import run_as_jobs
        from synpo_bench.run.grid import GridRunner
        from synpo_bench.validation import validate_config

        transformers_logging.disable_progress_bar()  # our own progress display says what is happening
        validate_config(config)
        main = is_main_launch_process()  # several processes: the first writes and prints, alone
        if main:
            write_resolved_config(config.run_dir(), ctx)  # replayable: --config RUN/config.toml
        if config.executor.kind != "local":  # submitit jobs (cli/submit.py); None: queued on Slurm
            if (submitted := run_as_jobs(config, plugin or [])) is None:
                return
            reports = submitted
        else:
            with RichObserver(len(config.cells())) if main else nullcontext(RunObserver()) as observer:
                reports = GridRunner(config, observer).run()
    if not main:
        return
    cached = [report.cell for report in reports if report.status == "skipped"]
    for part in run_summary(config.run_dir(), [report.cell for report in reports], cached):
        console.print(part)
    console.print(f"results: {config.run_dir()}  (full report: synpo-bench report {config.run_dir()})")
    for report in (r for r in reports if r.status == "busy"):
        cell = report.cell
        message = (
            f"{cell.name}: being trained by {report.result['claimed_by']}, "
            "so this run left it; run the same command again once that run ends to include it"
        )
        errors.print(styled_line("skipped ", "yellow", message), highlight=False, soft_wrap=True)
    failed = [r for r in reports if r.status == "failed"]
    for report in failed:
        error = report.result.get("error") or {}
        cell = report.cell
        message = f"{cell.name} at step {error.get('step')}: {error.get('reason')}"
        errors.print(styled_line("failed ", "red", message), highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)
