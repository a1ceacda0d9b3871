"""The configuration of one comparison run, and the grid of cells it expands to."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synpo_bench.api.errors import UserError
from synpo_bench.api.io import content_hash
from synpo_bench.budgets import Budget
from synpo_bench.reports.tuning import setting_label
from synpo_bench.train_settings import TrainSettings
from synpo_bench.tuning import Setting, loss_settings

DEFAULT_LOSSES = ("dpo", "ipo", "simpo", "orpo", "synpo")
DEFAULT_TASKS = ("vdc", "vatex")
DEFAULT_NLP_TASKS = ("synpo_mc", "synpo_gen")
"""lm-eval tasks shipped in ``tasks/nlp_data`` (offline): every trained policy's language is scored on
them, as the paper checks that preference training on video keeps the LM's language ability."""
NLP_PREFIX = "nlp:"
LMMS_PREFIX = "lmms:"
REF_MODES = ("live", "precomputed")
RERUN_CHOICES = ("none", "failed", "all")
WORLD_SIZES_CHOICES = ("tiny", "default")
PRECISIONS = ("no", "fp16", "bf16")


def default_cache_dir() -> Path:
    """Warm-start checkpoints and pair files, shared by runs; ``SYNPO_BENCH_CACHE`` overrides."""
    return Path(os.environ.get("SYNPO_BENCH_CACHE", Path.home() / ".cache" / "synpo-bench"))


@dataclass(frozen=True)
class Shard:
    """Cell ``i`` of every ``n`` (0-based), so ``n`` machines or a Slurm array share one grid."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.partition("/")
        try:
            shard = cls(int(index), int(count))
        except ValueError:
            raise UserError(f"--shard '{text}' must look like i/n, e.g. 0/4") from None
        if not sep or shard.count < 1 or not 0 <= shard.index < shard.count:
            raise UserError(f"--shard '{text}': need 0 <= i < n")
        return shard

    def takes(self, cell_number: int) -> bool:
        return cell_number % self.count == self.index


EXECUTORS = ("local", "submitit-local", "slurm")


@dataclass(frozen=True)
class ExecutorSettings:
    """Where the grid's cells run (``--executor``): in this process (``local``), or one submitit job per
    cell, on this machine (``submitit-local``) or as a Slurm job array (``slurm``): run/executor.py.
    Not part of a run's identity: the same cells give the same results wherever they run."""

    kind: str = "local"
    partition: str | None = None
    """``--slurm-partition``; None: the cluster's default partition."""
    gpus_per_cell: int | None = None
    """GPUs each cell's job gets; None: none on Slurm, this machine's visible ones under submitit-local."""
    time_limit_min: int | None = None
    """Each job's wall-clock limit in minutes; None: ``DEFAULT_TIME_LIMIT_MIN``."""
    max_parallel: int | None = None
    """Cells running at once; None: 1 under submitit-local (parallel torch processes oversubscribe the
    cores), the whole array on Slurm."""
    slurm_options: tuple[tuple[str, str], ...] = ()
    """``--slurm-option KEY=VALUE``: extra ``#SBATCH --KEY=VALUE`` lines (account, qos, mem, ...)."""


DEFAULT_TIME_LIMIT_MIN = 120


@dataclass(frozen=True)
class Cell:
    task: str
    loss: str
    seed: int
    setting: Setting = ()
    """A tuned cell's setting (``--tune``); () for a cell of the run's shared settings."""

    @property
    def label(self) -> str:
        """The setting as a folder name (``reports.tuning.setting_label``); "" when shared."""
        return setting_label(dict(self.setting)) if self.setting else ""

    @property
    def name(self) -> str:
        """``vdc/dpo/seed0``, or ``vdc/dpo/lr=3e-05/seed0`` for a tuned cell: its folder in the run."""
        return "/".join([self.task, self.loss, *([self.label] if self.setting else []), f"seed{self.seed}"])

    def folder(self, run_dir: Path) -> Path:
        return run_dir / self.name


@dataclass(frozen=True)
class RunConfig:
    losses: tuple[str, ...] = DEFAULT_LOSSES
    tasks: tuple[str, ...] = DEFAULT_TASKS
    seeds: tuple[int, ...] = (0,)
    budget: Budget = field(default_factory=lambda: Budget("steps", 60))
    out: Path = Path("results")
    run_id: str | None = None
    model: str | None = None
    data_dir: Path | None = None
    pairs_file: Path | None = None
    size: str = "default"
    data_seed: int = 0
    ref_mode: str = "live"
    train: TrainSettings = field(default_factory=TrainSettings)
    loss_params: dict[str, dict[str, float]] = field(default_factory=dict)
    tune: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """``--tune``: key (``lr``, ``dpo.beta``) -> values; every loss trains each of its settings
    (synpo_bench.tuning)."""
    device: str = "auto"
    precision: str = "no"
    lora: bool = False
    warm_start_steps: int | None = None
    """SFT steps of the warm start; None picks them from the data size (``default_steps``)."""
    warm_start_batch_size: int | None = None
    """Examples per SFT step of the warm start; None: ``warmstart.DEFAULT_BATCH_SIZE`` (32)."""
    nlp_tasks: tuple[str, ...] = DEFAULT_NLP_TASKS
    """lm-eval tasks every policy (and the start) is also evaluated on, text only."""
    lmms_tasks: tuple[str, ...] = ()
    """lmms-eval video tasks every policy (and the start) is also evaluated on (``--tasks ...,lmms:``)."""
    judge: str = "exact"
    """``exact`` (the embedded world's exact-fact judge) or an OpenAI-compatible base URL."""
    judge_model: str | None = None
    n_samples: int = 4
    pair_threshold: float = 4.0
    max_new_tokens: int | None = None
    """Evaluation caption length; None: the longest eval reference (in the model's tokens) + 8, so no
    caption is cut shorter than the references it is scored against."""
    shard: Shard = field(default_factory=Shard)
    rerun: str = "none"
    """"none": skip finished cells; "failed": re-run failed ones; "all": re-run everything."""
    cache_dir: Path = field(default_factory=default_cache_dir)
    frames: int = 8
    """Frames per clip, sampled uniformly from a real video (or rendered by the embedded world)."""
    frame_size: int = 32
    """Each frame is resized to frame_size x frame_size pixels."""
    train_projector: bool = False
    """A vision-language checkpoint's projector trains beside the language model (its vision tower never)."""
    save_policies: bool = False
    """Each cell writes its trained policy (LoRA adapters or weights, and the processor) to ``policy/``."""
    report_to: tuple[str, ...] = ()
    """``--report-to``: experiment trackers (accelerate's) that get one run per cell (run/trackers.py)."""
    processes: int = 1
    """Processes training each cell data-parallel (``accelerate launch`` / ``torchrun``; parallel.py): each
    optimizer step takes ``batch_size x processes x grad_accum`` pairs, so it is part of the identity."""
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    """``--executor`` and its Slurm settings: where the cells run, never what they compute."""

    def cells(self) -> list[Cell]:
        """Every cell of the grid in a fixed order, then this shard's slice of it."""
        grid = [
            Cell(t, loss, s, setting)
            for t in self.tasks
            for loss in self.losses
            for setting in loss_settings(self.tune, loss)
            for s in self.seeds
        ]
        return [cell for number, cell in enumerate(grid) if self.shard.takes(number)]

    def identity(self) -> dict[str, Any]:
        """What makes results comparable: everything but the grid axes, the output place and the shard.

        Adding a loss or a seed to the same command therefore reuses the finished cells; so does adding a
        value to a ``--tune`` key (a tuned run's identity names its keys, not their values; a run without
        ``--tune`` has no ``tune`` entry, so its run id is the one it had before tuning existed).
        """
        skip = {"losses", "tasks", "seeds", "out", "run_id", "shard", "rerun", "cache_dir", "device"}
        skip.add("save_policies")  # what is kept, not what is trained
        skip.add("report_to")  # where progress is shown, not what is trained
        skip.add("executor")  # where the cells run (this process, submitit jobs, Slurm), not what they train
        skip.add("tune")  # its keys only, below
        identity = {
            f.name: _jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in skip
            and not (f.name in OMITTED_AT_DEFAULT and getattr(self, f.name) == f.default)
        }
        if self.tune:
            identity["tune"] = sorted(self.tune)
        return identity

    def resolved_run_id(self) -> str:
        return self.run_id or f"run-{content_hash(self.identity(), 10)}"

    def run_dir(self) -> Path:
        return self.out / self.resolved_run_id()


OMITTED_AT_DEFAULT = frozenset({"train_projector", "frames", "frame_size", "lmms_tasks", "processes"})
"""Settings added after runs were made: left out of the identity while at their default, so an existing
command keeps its run id (and resumes its finished cells)."""


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value
