"""The grid: tasks x losses x seeds, one shared starting point per task, resumable, atomic results.

for each task: load data -> warm start (SFT, cached) -> preference pairs (cached)
    for each (loss, seed): copy the warm start -> train cell -> evaluate -> result.json
"""

from __future__ import annotations

import copy
import dataclasses
import json
import platform
import subprocess
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from synpo_bench import __version__
from synpo_bench.api.errors import UserError
from synpo_bench.api.io import content_hash, read_json, write_json_atomic, write_text_atomic
from synpo_bench.api.losses import get_loss
from synpo_bench.api.models import pair_rows
from synpo_bench.api.tasks import PreferencePair, TaskAdapter, TaskData, get_task
from synpo_bench.config import NLP_PREFIX, Cell, RunConfig
from synpo_bench.tasks.caption_metrics import caption_metrics_implementation
from synpo_bench.tasks.metrics.preference import heldout_preference_accuracy, win_rate
from synpo_bench.train import Batch, LiveReference, PrecomputedReference, TrainOutcome, train_cell

EMBEDDED_WORLD_TASKS = ("vatex", "vdc", "vdd")
"""The embedded world's video tasks share clips; the warm start learns all of their captions, as a
pretrained captioner would, so one cached checkpoint serves every task and every selection of tasks."""


@dataclass
class PreparedTask:
    name: str
    adapter: TaskAdapter
    data: TaskData
    base_model: Any
    pairs: list[PreferencePair]
    """Training pairs."""
    heldout: list[PreferencePair]
    """Pairs of held-out clips (never trained on), for preference accuracy."""
    info: dict[str, Any]
    precomputed: PrecomputedReference | None = None
    base_captions: list[str] | None = None
    """The starting model's greedy captions of the eval examples, for the judge's win rate."""


@dataclass
class CellReport:
    cell: Cell
    status: str  # done | failed | skipped
    result: dict[str, Any] = field(default_factory=dict)


class RunObserver:
    """Hooks the CLI uses for progress display; the defaults do nothing."""

    def stage(self, message: str) -> None: ...

    def stage_progress(self, label: str, done: int, total: int) -> None: ...

    def cell_started(self, cell: Cell, total_steps: int | None) -> None: ...

    def cell_step(self, cell: Cell, step: int, record: dict[str, float]) -> None: ...

    def cell_finished(self, report: CellReport) -> None: ...


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device is available on this machine")
    return torch.device(name)


def environment_versions() -> dict[str, str]:
    import accelerate
    import transformers

    return {
        "synpo_bench": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
    }


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def validate_config(config: RunConfig) -> None:
    """Fail fast, before any work, on every name and setting the user could have mistyped."""
    for task in config.tasks:
        get_task(task)
    for loss in config.losses:
        get_loss(loss, **config.loss_params.get(loss, {}))
    for loss in config.loss_params:
        if loss not in config.losses:
            raise UserError(f"hyper-parameters given for loss '{loss}', which is not in --losses")
    if config.ref_mode not in ("live", "precomputed"):
        raise UserError(f"--ref-mode '{config.ref_mode}': choose live or precomputed")
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
    from synpo_bench.tasks.http_judge import make_judge

    make_judge(config.judge, config.judge_model)  # a bad --judge fails here, before any training
    if config.nlp_tasks:
        from synpo_bench.tasks.nlp import check_lm_tasks

        check_lm_tasks(list(config.nlp_tasks))
    resolve_device(config.device)
    _check_writable(config.out)


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UserError(f"output folder {out} is not writable: {error.strerror or error}") from None


class GridRunner:
    def __init__(self, config: RunConfig, observer: RunObserver | None = None) -> None:
        self.config = config
        self.observer = observer or RunObserver()
        self.run_dir = config.run_dir()
        self.device = resolve_device(config.device)
        self._accelerator: Accelerator | None = None
        self._judge_instance: Any = None

    @property
    def accelerator(self) -> Accelerator:
        if self._accelerator is None:
            self._accelerator = Accelerator(
                cpu=self.device.type == "cpu", mixed_precision=self.config.precision
            )
        return self._accelerator

    def run(self) -> list[CellReport]:
        validate_config(self.config)
        reports: list[CellReport] = []
        cells = self.config.cells()
        for task in dict.fromkeys(cell.task for cell in cells):
            task_cells = [cell for cell in cells if cell.task == task]
            pending = [cell for cell in task_cells if not self._finished(cell)]
            reports += [
                CellReport(cell, "skipped", self._load_result(cell))
                for cell in task_cells
                if cell not in pending
            ]
            if not pending:
                continue
            prepared = self.prepare_task(task)
            for cell in pending:
                report = self.run_cell(prepared, cell)
                self.observer.cell_finished(report)
                reports.append(report)
        return reports

    # ------------------------------------------------------------------------------------ preparation

    def prepare_task(self, task: str) -> PreparedTask:
        from synpo_bench.models import warm_start
        from synpo_bench.models.warmstart import DEFAULT_BATCH_SIZE
        from synpo_bench.pairs import build_preference_pairs, read_pairs_jsonl, write_pairs_jsonl

        config = self.config
        adapter: TaskAdapter = get_task(task)()
        self.observer.stage(f"{task}: loading data")
        data = adapter.load(config.data_dir, seed=config.data_seed, size=config.size)
        examples, frames = self._warm_start_examples(adapter, data)
        self.observer.stage(f"{task}: warm start (SFT; cached after the first run)")
        base_model, warm_info = warm_start(
            examples,
            frames,
            model=config.model,
            seed=config.data_seed,
            cache_dir=config.cache_dir / "warmstart",
            steps=config.warm_start_steps,
            batch_size=config.warm_start_batch_size or DEFAULT_BATCH_SIZE,
            lora=config.lora,
            progress=lambda step, total, loss: self.observer.stage_progress("warm start (SFT)", step, total),
        )
        task_dir = self.run_dir / task
        pairs_path = task_dir / "pairs.jsonl"
        pair_summary: dict[str, Any]
        if config.pairs_file is not None:
            pairs, skipped = read_pairs_jsonl(config.pairs_file)
            pair_summary = {
                "source": str(config.pairs_file),
                "kept": len(pairs),
                "skipped_lines": len(skipped),
            }
            for message in skipped[:5]:
                self.observer.stage(f"skipped: {message}")
        elif getattr(data, "train_pairs", None):
            # A preference data set (text tasks): its pairs are the training data, as given.
            pairs = list(data.train_pairs)
            pair_summary = {"source": data.source, "kept": len(pairs), "skipped_lines": len(data.skipped)}
        else:
            self.observer.stage(f"{task}: sampling and judging preference pairs")
            pair_set = build_preference_pairs(
                base_model,
                data,
                self._pair_judge(data),
                n_samples=config.n_samples,
                threshold=config.pair_threshold,
                seed=config.data_seed,
                cache_dir=config.cache_dir / "pairs",
                progress=lambda stage, done, total: self.observer.stage_progress(
                    f"pairs: {stage}", done, total
                ),
            )
            pairs = pair_set.pairs
            pair_summary = pair_set.summary()
        if not pairs:
            raise UserError(f"task '{task}': no preference pair passed the threshold; nothing to train on")
        write_pairs_jsonl(pairs_path, pairs)
        pairs, heldout = split_heldout(pairs)
        info = {
            "task": task,
            "synthetic": data.synthetic,
            "source": data.source,
            "skipped_entries": len(data.skipped),
            "skipped_examples": data.skipped[:20],
            "warm_start": _as_dict(warm_info),
            "pairs": {**pair_summary, "train": len(pairs), "heldout": len(heldout)},
            "data_hash": content_hash(
                {
                    "pairs": [dataclasses.asdict(p) for p in pairs],
                    "eval": [dataclasses.asdict(e) for e in data.eval],
                }
            ),
        }
        prepared = PreparedTask(task, adapter, data, base_model, pairs, heldout, info)
        self.observer.stage(f"{task}: evaluating the starting model")
        info["start_quality"] = self._evaluate_start(prepared)
        write_json_atomic(task_dir / "task.json", info)
        return prepared

    def _warm_start_examples(self, adapter: TaskAdapter, data: TaskData) -> tuple[list[Any], dict[str, Any]]:
        if not data.synthetic or adapter.name not in EMBEDDED_WORLD_TASKS:
            return data.train, data.frames
        # The same union in the same order for every task, so all of them share one cached warm start.
        examples: list[Any] = []
        for name in EMBEDDED_WORLD_TASKS:
            source = (
                data
                if name == adapter.name
                else get_task(name)().load(None, seed=self.config.data_seed, size=self.config.size)
            )
            examples += source.train
        return examples, data.frames

    def _judge(self) -> Any:
        """The evaluation judge the user chose (``--judge``), built once per run."""
        if self._judge_instance is None:
            from synpo_bench.tasks.http_judge import make_judge

            self._judge_instance = make_judge(self.config.judge, self.config.judge_model)
        return self._judge_instance

    def _pair_judge(self, data: TaskData) -> Any:
        """Pairs are rated against ground-truth facts: the chosen judge when it can rate candidates
        (H, F, C), otherwise the exact-fact judge."""
        if not data.facts:
            raise UserError(
                f"task '{data.task}': real data has no ground-truth facts to rate sampled captions; "
                "give preference pairs with --pairs FILE"
            )
        judge = self._judge()
        if hasattr(judge, "rate"):
            return judge
        from synpo_bench.tasks.judge import ExactFactJudge

        return ExactFactJudge()

    # ------------------------------------------------------------------------------------------ cells

    def _finished(self, cell: Cell) -> bool:
        result = self._load_result(cell)
        status = result.get("status")
        if status == "done":
            return self.config.rerun != "all"
        if status == "failed":
            return self.config.rerun == "none"
        return False

    def _load_result(self, cell: Cell) -> dict[str, Any]:
        path = cell.folder(self.run_dir) / "result.json"
        try:
            return read_json(path)
        except (OSError, ValueError):
            return {}

    def _manifest(self, prepared: PreparedTask, cell: Cell, ref_mode: str) -> dict[str, Any]:
        loss = get_loss(cell.loss, **self.config.loss_params.get(cell.loss, {}))
        return {
            "run_id": self.config.resolved_run_id(),
            "task": cell.task,
            "loss": cell.loss,
            "loss_params": loss.params,
            "needs_reference": loss.needs_reference,
            "ref_mode": ref_mode,
            "seed": cell.seed,
            "budget": {"kind": self.config.budget.kind, "value": self.config.budget.value},
            "config": self.config.identity(),
            "versions": environment_versions(),
            "git_sha": git_sha(),
            "data_hash": prepared.info["data_hash"],
            "synthetic": prepared.data.synthetic,
            "judge": getattr(self._judge(), "name", type(self._judge()).__name__),
            "caption_metrics": caption_metrics_implementation(),
            "device": str(self.device),
            "started_at": datetime.now(timezone.utc).isoformat(),
        }

    def run_cell(self, prepared: PreparedTask, cell: Cell) -> CellReport:
        config = self.config
        folder = cell.folder(self.run_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "result.json").unlink(missing_ok=True)
        loss = get_loss(cell.loss, **config.loss_params.get(cell.loss, {}))
        ref_mode = config.ref_mode if loss.needs_reference else "none"
        manifest = self._manifest(prepared, cell, ref_mode)
        write_json_atomic(folder / "manifest.json", manifest)
        self.observer.cell_started(
            cell, config.budget.planned_steps(config.train.batch_size * config.train.grad_accum)
        )
        torch.manual_seed(cell.seed)
        policy = copy.deepcopy(prepared.base_model)
        result: dict[str, Any] = {
            key: manifest[key]
            for key in ("run_id", "task", "loss", "seed", "synthetic", "judge", "caption_metrics", "ref_mode")
        }
        result["budget"] = manifest["budget"]
        try:
            reference = self._reference(prepared, cell, loss.needs_reference, policy)
            outcome = train_cell(
                policy=policy,
                loss=loss,
                make_batches=self._batches(prepared, policy, cell.seed),
                budget=config.budget,
                settings=config.train,
                accelerator=self.accelerator,
                reference=reference,
                metrics_path=folder / "metrics.jsonl",
                on_step=lambda step, record: self.observer.cell_step(cell, step, record),
            )
            result.update(self._outcome_fields(outcome))
            if outcome.failure is None:
                result["quality"], result["eval_s"] = self._evaluate(prepared, policy, folder)
        except (KeyboardInterrupt, SystemExit):
            raise  # the manifest without a result marks the cell as interrupted; a re-run redoes it
        except Exception as error:  # one broken cell must not lose the others' results
            result.update(status="failed", error={"step": None, "reason": f"{type(error).__name__}: {error}"})
        write_json_atomic(folder / "result.json", result)
        return CellReport(cell, result["status"], result)

    def _outcome_fields(self, outcome: TrainOutcome) -> dict[str, Any]:
        fields: dict[str, Any] = {"cost": outcome.cost, "status": "done", "error": None}
        fields["budget"] = {
            "kind": self.config.budget.kind,
            "value": self.config.budget.value,
            "reached": outcome.budget_reached,
        }
        if outcome.failure is not None:
            fields["status"] = "failed"
            fields["error"] = {"step": outcome.failure.step, "reason": outcome.failure.reason}
        return fields

    def _reference(
        self, prepared: PreparedTask, cell: Cell, needs_reference: bool, policy: Any
    ) -> LiveReference | PrecomputedReference | None:
        if not needs_reference:
            return None
        if self.config.ref_mode == "live":
            return LiveReference(policy)
        if prepared.precomputed is None:
            self.observer.stage(f"{cell.task}: precomputing reference log-probabilities (once per data set)")
            prepared.precomputed = PrecomputedReference.compute(
                policy, self._batches(prepared, policy, seed=0)(0), len(prepared.pairs)
            )
        return prepared.precomputed

    def _batches(self, prepared: PreparedTask, policy: Any, seed: int) -> Callable[[int], Iterator[Batch]]:
        """Epoch -> batches. The order depends on the cell's seed and the epoch only, never on the loss."""
        pairs = prepared.pairs
        frames = prepared.data.frames
        batch_size = self.config.train.batch_size
        collate = policy.collate

        def make(epoch: int) -> Iterator[Batch]:
            generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
            order = torch.randperm(len(pairs), generator=generator).tolist()
            usable = len(order) - len(order) % batch_size if len(order) >= batch_size else len(order)
            for start in range(0, usable, batch_size):
                chunk = [pairs[i] for i in order[start : start + batch_size]]
                batch = pair_rows(collate, chunk, frames)
                batch["pair_index"] = torch.tensor(order[start : start + batch_size])
                yield batch

        return make

    def _evaluate(self, prepared: PreparedTask, policy: Any, folder: Path) -> tuple[dict[str, float], float]:
        """The task's metrics, held-out preference accuracy, and the judge's win rate over the start."""
        start = time.perf_counter()
        model = self.accelerator.unwrap_model(policy)
        captions = self._captions(model, prepared.data)
        write_captions(folder / CAPTIONS_FILE, prepared.data.eval, captions)
        quality = self._quality(model, prepared, captions, folder)
        if prepared.data.facts:
            if prepared.base_captions is None:
                prepared.base_captions = self._captions(prepared.base_model, prepared.data)
            quality.update(
                win_rate(
                    self._judge(), prepared.data.eval, captions, prepared.base_captions, prepared.data.facts
                )
            )
        return quality, time.perf_counter() - start

    def _evaluate_start(self, prepared: PreparedTask) -> dict[str, float]:
        """The starting point every loss trains from, measured the way the cells are: the row that shows
        whether preference training helped at all."""
        prepared.base_captions = self._captions(prepared.base_model, prepared.data)
        write_captions(
            self.run_dir / prepared.name / CAPTIONS_FILE, prepared.data.eval, prepared.base_captions
        )
        return self._quality(
            prepared.base_model, prepared, prepared.base_captions, self.run_dir / prepared.name
        )

    def _quality(
        self, model: Any, prepared: PreparedTask, captions: list[str], folder: Path
    ) -> dict[str, float]:
        examples = prepared.data.eval
        predictions = {
            (e.clip_id, e.dimension): caption for e, caption in zip(examples, captions, strict=True)
        }
        quality = dict(prepared.adapter.evaluate(predictions, prepared.data, self._judge()))
        if prepared.heldout:
            quality["heldout_pref_accuracy"] = 100.0 * heldout_preference_accuracy(
                model, prepared.heldout, prepared.data.frames, self.config.train.batch_size
            )
        quality.update(self._nlp_scores(model, folder))
        return {key: float(value) for key, value in quality.items()}

    def _nlp_scores(self, model: Any, folder: Path) -> dict[str, float]:
        """The policy's language part on the lm-eval tasks, text only; lm-eval's JSON goes to ``folder``."""
        if not self.config.nlp_tasks:
            return {}
        from synpo_bench.tasks.nlp import evaluate_lm

        # A peft model's base model carries the injected adapters, and is the PreTrainedModel lm-eval wants.
        lm = model.lm.get_base_model() if hasattr(model.lm, "get_base_model") else model.lm
        scores = evaluate_lm(
            lm,
            model.tokenizer,
            list(self.config.nlp_tasks),
            out_dir=folder,
            batch_size=self.config.train.batch_size,
            device=str(self.device),
            quiet=True,
        )
        return {f"{NLP_PREFIX}{name}": value for name, value in scores.items()}

    def _captions(self, model: Any, data: TaskData) -> list[str]:
        from synpo_bench.pairs import caption_token_budget

        model.eval()
        with torch.inference_mode():
            return model.generate(
                [data.frames[e.clip_id] for e in data.eval] if data.frames else None,
                [e.prompt for e in data.eval],
                do_sample=False,
                max_new_tokens=self.config.max_new_tokens
                or caption_token_budget(model.tokenizer, data.eval, cap=MAX_EVAL_CAPTION_TOKENS),
            )


MAX_EVAL_CAPTION_TOKENS = 512


CAPTIONS_FILE = "captions.jsonl"
"""The evaluated captions, one JSON line per eval example: for reading what a loss did to the model."""


def write_captions(path: Path, examples: list[Any], captions: list[str]) -> None:
    lines = (
        json.dumps({"clip_id": e.clip_id, "dimension": e.dimension, "caption": c}, ensure_ascii=False)
        for e, c in zip(examples, captions, strict=True)
    )
    write_text_atomic(path, "".join(line + "\n" for line in lines))


HELDOUT_EVERY = 10
"""One clip in ten (by a stable hash of its id) is held out of training for preference accuracy."""


def split_heldout(pairs: list[PreferencePair]) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """Split by clip, so no held-out clip was ever trained on; stable across runs and machines."""
    if len(pairs) < 2 * HELDOUT_EVERY:
        return pairs, []
    held = {p.clip_id for p in pairs if zlib.crc32(p.clip_id.encode()) % HELDOUT_EVERY == 0}
    return [p for p in pairs if p.clip_id not in held], [p for p in pairs if p.clip_id in held]


def _as_dict(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _as_dict(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, Path):
        return str(value)
    return value
