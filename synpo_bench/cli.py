"""The ``synpo-bench`` command line: run, report, check, list."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from synpo_bench import __version__
from synpo_bench.api.errors import UserError
from synpo_bench.api.losses import get_loss_spec, list_losses
from synpo_bench.api.registry import import_plugins
from synpo_bench.api.tasks import TASKS, get_task, list_tasks
from synpo_bench.budgets import Budget
from synpo_bench.config import (
    DEFAULT_LOSSES,
    DEFAULT_NLP_TASKS,
    DEFAULT_TASKS,
    NLP_PREFIX,
    REF_MODES,
    RunConfig,
    Shard,
    default_cache_dir,
)
from synpo_bench.train import DEFAULT_LR, TrainSettings

app = typer.Typer(
    name="synpo-bench",
    help="Which preference loss should I use, and what does it cost? Trains the same model on the same data "
    "under the same budget once per loss, evaluates each on the same tasks, and reports quality beside cost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
errors = Console(stderr=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """A user mistake becomes one line on stderr and exit status 2, never a traceback."""
    try:
        yield
    except UserError as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _version(value: bool) -> None:
    if value:
        console.print(f"synpo-bench {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Compare preference-optimisation losses (DPO, IPO, SimPO, ORPO, SynPO, ...) on equal budgets."""


# ------------------------------------------------------------------------------------------------ list


@app.command("list")
def list_command(
    what: Annotated[str, typer.Argument(help="What to list: losses or tasks.", metavar="losses|tasks")],
) -> None:
    """List the registered losses (with defaults and citations) or tasks."""
    with user_errors():
        if what == "losses":
            console.print(_loss_table())
        elif what == "tasks":
            console.print(_task_table())
        else:
            raise UserError(f"cannot list '{what}'; choose one of: losses, tasks")


def _loss_table() -> Table:
    table = Table(title="Registered losses", show_lines=False)
    for column in ("name", "reference model", "defaults", "summary", "citation"):
        table.add_column(column, overflow="fold")
    for name in list_losses():
        spec = get_loss_spec(name)
        defaults = ", ".join(f"{k}={v:g}" for k, v in spec.defaults.items()) or "-"
        table.add_row(
            name, "needed" if spec.needs_reference else "free", defaults, spec.summary, spec.citation
        )
    return table


def _task_table() -> Table:
    table = Table(title="Registered tasks")
    for column in ("name", "aliases", "metrics", "description"):
        table.add_column(column, overflow="fold")
    for name in list_tasks():
        adapter = get_task(name)
        table.add_row(
            name,
            ", ".join(TASKS.aliases_of(name)) or "-",
            ", ".join(getattr(adapter, "metrics", ())),
            getattr(adapter, "description", ""),
        )
    return table


# ------------------------------------------------------------------------------------------------- run


def _split_names(text: str, option: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise UserError(f"{option} needs at least one name")
    return names


def _split_tasks(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``vdc,vatex,nlp:arc_easy,hellaswag`` -> training tasks, then lm-eval tasks: every name from the
    first ``nlp:`` on is an lm-eval task, run on each trained policy's language."""
    names = _split_names(text, "--tasks")
    first_nlp = next((i for i, name in enumerate(names) if name.startswith(NLP_PREFIX)), len(names))
    nlp = tuple(name.removeprefix(NLP_PREFIX).strip() for name in names[first_nlp:])
    if any(not name for name in nlp):
        raise UserError("--tasks: 'nlp:' must be followed by lm-eval task names, e.g. nlp:synpo_mc,synpo_gen")
    training = names[:first_nlp]
    if not training:
        raise UserError(
            "--tasks: nlp: tasks score the policies trained on a video task; add one, e.g. "
            f"--tasks vdc,{NLP_PREFIX}{','.join(nlp)} (text-only preference training is not wired yet)"
        )
    return training, nlp


def _parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise UserError(f"--seeds '{text}' must be comma-separated integers, e.g. 0,1,2") from None
    if not seeds:
        raise UserError("--seeds needs at least one seed")
    return seeds


def _parse_params(items: list[str]) -> dict[str, dict[str, float]]:
    params: dict[str, dict[str, float]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        loss, dot, name = key.partition(".")
        try:
            value = float(raw)
        except ValueError:
            value = None
        if not sep or not dot or value is None:
            raise UserError(f"--param '{item}' must look like LOSS.NAME=NUMBER, e.g. synpo.alpha=20")
        params.setdefault(loss.strip(), {})[name.strip()] = value
    return params


@app.command("run")
def run_command(
    losses: Annotated[str, typer.Option(help="Comma-separated losses (see `list losses`).")] = ",".join(
        DEFAULT_LOSSES
    ),
    tasks: Annotated[
        str,
        typer.Option(
            help="Comma-separated tasks to train and evaluate on (see `list tasks`); names after 'nlp:' "
            "are lm-eval tasks every trained model is also scored on, e.g. vdc,nlp:synpo_mc,arc_easy."
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
            help="A local Hugging Face checkpoint path or cached name (default: the tiny video-LM)."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder with the benchmark's real annotation files and videos.")
    ] = None,
    pairs: Annotated[
        Path | None,
        typer.Option(help="Preference pairs JSONL (clip_id, prompt, chosen, rejected) to use as given."),
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
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
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
    shard: Annotated[str, typer.Option(help="Run slice i of n of the grid (0-based), e.g. 0/4.")] = "0/1",
    rerun: Annotated[str, typer.Option(help="Re-run finished cells: none, failed or all.")] = "none",
    plugin: Annotated[
        list[str] | None,
        typer.Option(help="Import a module that registers extra losses or tasks (repeatable)."),
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Warm-start and pair cache (default ~/.cache/synpo-bench).")
    ] = None,
) -> None:
    """Train every loss on every task under the same budget, evaluate, and print a summary table.

    Finished cells are skipped, so re-running the same command resumes an interrupted run.
    """
    with user_errors():
        import_plugins(plugin or [])
        if ref_mode not in REF_MODES:
            raise UserError(f"--ref-mode '{ref_mode}': choose one of {', '.join(REF_MODES)}")
        if rerun not in ("none", "failed", "all"):
            raise UserError(f"--rerun '{rerun}': choose none, failed or all")
        if size not in ("tiny", "default"):
            raise UserError(f"--size '{size}': choose tiny or default")
        if precision not in ("no", "fp16", "bf16"):
            raise UserError(f"--precision '{precision}': choose no, fp16 or bf16")
        video_tasks, nlp_tasks = _split_tasks(tasks)
        config = RunConfig(
            losses=_split_names(losses, "--losses"),
            tasks=video_tasks,
            nlp_tasks=nlp_tasks,
            seeds=_parse_seeds(seeds),
            budget=Budget.parse(budget),
            out=out,
            run_id=run_id,
            model=model,
            data_dir=data_dir,
            pairs_file=pairs,
            size=size,
            ref_mode=ref_mode,
            train=TrainSettings(batch_size=batch_size, grad_accum=grad_accum, lr=lr),
            loss_params=_parse_params(param or []),
            device=device,
            precision=precision,
            lora=lora,
            warm_start_steps=warm_start_steps,
            warm_start_batch_size=warm_start_batch_size,
            judge=judge,
            judge_model=judge_model,
            shard=Shard.parse(shard),
            rerun=rerun,
            cache_dir=cache_dir or default_cache_dir(),
        )
        from synpo_bench.run import GridRunner, validate_config

        validate_config(config)
        with RichObserver(len(config.cells())) as observer:
            reports = GridRunner(config, observer).run()
    for table in summary_tables(reports, config.run_dir()):
        console.print(table)
    console.print(f"results: {config.run_dir()}  (full report: synpo-bench report {config.run_dir()})")
    failed = [r for r in reports if r.status == "failed"]
    for report in failed:
        error = report.result.get("error") or {}
        errors.print(
            f"[red]failed[/] {report.cell.task}/{report.cell.loss}/seed{report.cell.seed} at step "
            f"{error.get('step')}: {error.get('reason')}",
            highlight=False,
        )
    if failed:
        raise typer.Exit(1)


class RichObserver:
    """Progress for the whole grid and for the cell being trained."""

    def __init__(self, total_cells: int) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.grid = self.progress.add_task("cells", total=total_cells)
        self.current: Any = None
        self.stages: dict[str, Any] = {}
        self.logged_quarters: dict[str, int] = {}
        """Without a terminal: the last quarter (1-4) of each stage logged as a line."""

    def __enter__(self) -> RichObserver:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stage(self, message: str) -> None:
        self.progress.console.log(message)

    @property
    def plain(self) -> bool:
        """Output to a log file or a CI job: bars never redraw there, so progress is logged as lines."""
        return not self.progress.console.is_terminal

    def stage_progress(self, label: str, done: int, total: int) -> None:
        """A bar per preparation stage (warm start, pair sampling, judging), removed when complete."""
        quarter = 4 * done // total if total else 0
        if self.plain and quarter > self.logged_quarters.get(label, 0):
            self.logged_quarters[label] = quarter
            self.progress.console.log(f"{label}: {done}/{total}")
        if label not in self.stages:
            self.stages[label] = self.progress.add_task(label, total=total)
        self.progress.update(self.stages[label], completed=done, total=total)
        if done >= total:
            self.progress.remove_task(self.stages.pop(label))
            self.logged_quarters.pop(label, None)  # the next task's stage of the same name starts afresh

    def cell_started(self, cell: Any, total_steps: int | None) -> None:
        if self.current is not None:
            self.progress.remove_task(self.current)
        label = f"{cell.task}/{cell.loss}/seed{cell.seed}"
        self.current = self.progress.add_task(label, total=total_steps)

    def cell_step(self, cell: Any, step: int, record: dict[str, float]) -> None:
        if self.current is not None:
            description = (
                f"{cell.task}/{cell.loss}/seed{cell.seed} loss={record.get('loss', float('nan')):.4f}"
            )
            self.progress.update(self.current, completed=step, description=description)

    def cell_finished(self, report: Any) -> None:
        self.progress.advance(self.grid)
        if self.plain:
            cell, cost = report.cell, report.result.get("cost", {})
            seconds = f" in {cost['wall_clock_s']:.1f} s" if "wall_clock_s" in cost else ""
            self.progress.console.log(f"{cell.task}/{cell.loss}/seed{cell.seed}: {report.status}{seconds}")


def summary_tables(reports: list[Any], run_dir: Path) -> list[Table]:
    """One table per task: its headline metrics and the win rate over the start, then what each loss cost.

    The ``(start)`` row is the warm-started model every loss trains from: the bar each loss has to clear.
    """
    from synpo_bench.reports.aggregate import read_start_quality

    tables = []
    for task in dict.fromkeys(report.cell.task for report in reports):
        rows = [report for report in reports if report.cell.task == task]
        metrics = _headline(task, {k: v for r in rows for k, v in r.result.get("quality", {}).items()})
        table = Table(title=f"{task}: summary (higher quality is better)")
        for column in ("loss", "seed", "status", *metrics, "win %", "ms/step", "tok/s", "peak MB"):
            table.add_column(column, justify="left" if column in ("loss", "status") else "right")
        for report in rows:
            result, cost = report.result, report.result.get("cost", {})
            quality = result.get("quality", {})
            status = report.status if report.status != "skipped" else f"{result.get('status', '?')} (cached)"
            table.add_row(
                report.cell.loss,
                str(report.cell.seed),
                status,
                *(_number(quality.get(name)) for name in metrics),
                _number(quality.get("win_rate")),
                _number(cost.get("time_per_step_s"), scale=1000),
                _number(cost.get("tokens_per_s"), digits=0),
                _number(cost.get("peak_memory_mb"), digits=0),
            )
        start = read_start_quality(run_dir / task, warnings=[])  # the report repeats any warning
        if start:
            table.add_row("(start)", "-", "before training", *(_number(start.get(m)) for m in metrics))
        tables.append(table)
    return tables


def _number(value: Any, *, scale: float = 1.0, digits: int | None = None) -> str:
    if not isinstance(value, int | float):
        return "-"
    value = float(value) * scale
    if digits is None:
        digits = 1 if abs(value) >= 10 else 2 if abs(value) >= 0.1 else 3
    return f"{value:.{digits}f}"


def _headline(task: str, quality: dict[str, float]) -> list[str]:
    wanted = getattr(get_task(task), "headline", ()) or tuple(quality)[:3]
    return [name for name in wanted if name in quality]


def _register_report_commands() -> None:
    """``report`` and ``check`` live with the reports package."""
    try:
        from synpo_bench.reports.cli import check_command, report_command
    except ImportError:  # pragma: no cover - the reports package ships with the project
        return
    app.command("report")(report_command)
    app.command("check")(check_command)


_register_report_commands()


def main() -> None:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # our own progress display says what is happening
    app()


if __name__ == "__main__":
    sys.exit(main())
