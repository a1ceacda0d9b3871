"""A task's shared starting point, prepared once per run and used unchanged by every (loss, seed) cell.

load data -> warm start (SFT, cached) -> preference pairs (from --pairs, given by the data, or sampled
and judged; cached) -> held-out split -> the starting model's evaluation (the report's ``(start)`` row)
-> ``task.json`` and ``pairs.jsonl`` in the task's folder.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synpo_bench.api.chat import MessageRenderer, ReadsConversations
from synpo_bench.api.errors import UserError
from synpo_bench.api.io import content_hash, read_json, write_json_atomic
from synpo_bench.api.judges import CandidateRater, Judge, make_judge
from synpo_bench.api.models import Policy
from synpo_bench.api.tasks import (
    CaptionExample,
    PreferencePair,
    ReadsVideo,
    TaskAdapter,
    TaskData,
    get_task,
)
from synpo_bench.config import RunConfig
from synpo_bench.models import warm_start
from synpo_bench.models.chat import message_renderer
from synpo_bench.models.warmstart import DEFAULT_BATCH_SIZE
from synpo_bench.pairs import build_preference_pairs
from synpo_bench.run.evaluate import Evaluator
from synpo_bench.run.observer import RunObserver
from synpo_bench.run.record import CAPTIONS_FILE, read_captions, write_captions
from synpo_bench.tasks.data.pairs import RowReading, read_given_pairs, write_pairs_jsonl

EMBEDDED_WORLD_TASKS = ("vatex", "vdc", "vdd")
"""The embedded world's video tasks share clips; the warm start learns all of their captions, as a
pretrained captioner would, so one cached checkpoint serves every task and every selection of tasks."""

HELDOUT_EVERY = 10
"""One clip in ten (by a stable hash of its id) is held out of training for preference accuracy."""


@dataclass(frozen=True)
class PreparedTask:
    """Everything the cells of one task share; never changed once built."""

    name: str
    adapter: TaskAdapter
    data: TaskData
    base_model: Policy
    pairs: list[PreferencePair]
    """Training pairs."""
    heldout: list[PreferencePair]
    """Pairs of held-out clips (never trained on), for preference accuracy."""
    start_captions: list[str]
    """The starting model's greedy captions of the eval examples, for the judge's win rate."""
    info: dict[str, Any]
    """``task.json``."""

    def shared(self) -> SharedPreparation:
        """What the main process sends the others of a data-parallel run (``TaskPreparer.follow``)."""
        return self.pairs, self.heldout, self.info


SharedPreparation = tuple[list[PreferencePair], list[PreferencePair], dict[str, Any]]


def split_heldout(pairs: list[PreferencePair]) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """Split by clip, so no held-out clip was ever trained on; stable across runs and machines."""
    if len(pairs) < 2 * HELDOUT_EVERY:
        return pairs, []
    held = {p.clip_id for p in pairs if zlib.crc32(p.clip_id.encode()) % HELDOUT_EVERY == 0}
    return [p for p in pairs if p.clip_id not in held], [p for p in pairs if p.clip_id in held]


@dataclass(frozen=True)
class LoadedTask:
    """A task's data as loaded and checked, before any training."""

    name: str
    adapter: TaskAdapter
    data: TaskData
    given: tuple[list[PreferencePair], dict[str, Any]] | None
    """The --pairs file's pairs and their summary, when --pairs is given."""


class TaskPreparer:
    """Loads and checks each task of a run (``load``), then builds its ``PreparedTask`` (``prepare``)."""

    def __init__(self, config: RunConfig, run_dir: Path, evaluator: Evaluator, observer: RunObserver) -> None:
        self.config = config
        self.run_dir = run_dir
        self.evaluator = evaluator
        self.observer = observer
        self._render: MessageRenderer | None = None

    def load(self, task: str) -> LoadedTask:
        """The task's data, and every check the settings and the data already decide (a source of pairs,
        --pairs naming the task's clips, a judge that can score the eval data): run for every task before
        the first warm start, so no mistake surfaces after minutes of training."""
        adapter = self._adapter(task)
        self.observer.stage(f"{task}: loading data")
        data = adapter.load(self.config.data_dir, seed=self.config.data_seed, size=self.config.size)
        given = self._given_pairs(task, data)
        self._check_loaded(adapter, data, pairs_given=given is not None)
        return LoadedTask(task, adapter, data, given)

    def prepare(self, loaded: LoadedTask) -> PreparedTask:
        task, adapter, data, given = loaded.name, loaded.adapter, loaded.data, loaded.given
        base_model, warm_info = self._warm_start(loaded)
        task_dir = self.run_dir / task
        pairs, pair_summary = given or self._pairs(task, base_model, data)
        write_pairs_jsonl(task_dir / "pairs.jsonl", pairs)
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
        info["start_key"] = content_hash(
            {"config": self.config.identity(), "data": info["data_hash"], "warm_start": warm_info.key}
        )
        earlier = _earlier_start(task_dir, info["start_key"], data.eval)
        if earlier is not None:
            # A resumed run, or each submitit cell job: the same start on the same data under the same
            # settings was evaluated by an earlier invocation; evaluating it again would cost every one of
            # them the whole eval set's generation (and lm-eval's) once more.
            self.observer.stage(f"{task}: the starting model's evaluation, from an earlier invocation")
            start_captions, info["start_quality"] = earlier
        else:
            self.observer.stage(f"{task}: evaluating the starting model")
            start_captions = self.evaluator.captions(base_model, data)
            write_captions(task_dir / CAPTIONS_FILE, data.eval, start_captions)
            info["start_quality"] = self.evaluator.quality(
                base_model, adapter, data, heldout, start_captions, task_dir
            )
        write_json_atomic(task_dir / "task.json", info)
        return PreparedTask(task, adapter, data, base_model, pairs, heldout, start_captions, info)

    def follow(self, loaded: LoadedTask, shared: SharedPreparation) -> PreparedTask:
        """A data-parallel run's other processes: the warm start the main process has just prepared (loaded
        from its cache entry), with the pairs it sends; no file written, nothing evaluated."""
        base_model, _ = self._warm_start(loaded)
        pairs, heldout, info = shared
        return PreparedTask(loaded.name, loaded.adapter, loaded.data, base_model, pairs, heldout, [], info)

    def _warm_start(self, loaded: LoadedTask) -> tuple[Policy, Any]:
        config = self.config
        task, adapter, data = loaded.name, loaded.adapter, loaded.data
        examples = self._warm_start_examples(adapter, data)
        self.observer.stage(f"{task}: warm start (SFT; cached after the first run)")
        return warm_start(
            examples,
            data.frames,
            model=config.model,
            seed=config.data_seed,
            cache_dir=config.cache_dir / "warmstart",
            steps=config.warm_start_steps,
            batch_size=config.warm_start_batch_size or DEFAULT_BATCH_SIZE,
            lora=config.lora,
            train_projector=config.train_projector,
            device=self.evaluator.device,
            progress=lambda step, total, loss: self.observer.stage_progress("warm start (SFT)", step, total),
            warn=self._warn,
        )

    def _pairs(
        self, task: str, base_model: Policy, data: TaskData
    ) -> tuple[list[PreferencePair], dict[str, Any]]:
        """The training pairs and their summary for ``task.json`` when --pairs gives none: as the data set
        gives them, or sampled from the warm-started model and rated by the judge (SynPO's recipe)."""
        config = self.config
        if data.train_pairs:
            pairs = list(data.train_pairs)
            summary = {"source": data.source, "kept": len(pairs), "skipped_lines": len(data.skipped)}
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
                warn=self._warn,
            )
            pairs, summary = pair_set.pairs, pair_set.summary()
        if not pairs:
            raise UserError(f"task '{task}': no preference pair passed the threshold; nothing to train on")
        return pairs, summary

    def _given_pairs(self, task: str, data: TaskData) -> tuple[list[PreferencePair], dict[str, Any]] | None:
        """The --pairs file's pairs and summary (None without --pairs); every pair must name a clip of the
        task, or training and evaluation would fail on it later, after the warm start."""
        path = self.config.pairs_file
        if path is None:
            return None
        # At least one pair, or a one-line error naming the file; a video task's pairs name their clips.
        pairs, skipped = read_given_pairs(path, RowReading(self._renderer(), need_clip_id=bool(data.frames)))
        for message in skipped[:5]:
            self.observer.stage(f"skipped: {message}")
        unknown = sorted({p.clip_id for p in pairs if p.clip_id not in data.frames}) if data.frames else []
        if unknown:
            raise UserError(
                f"--pairs {path}: {len(unknown)} clip_id(s) are not clips of task '{task}' (e.g. "
                f"{', '.join(repr(clip) for clip in unknown[:3])}); give pairs made for this task's data"
            )
        return pairs, {"source": str(path), "kept": len(pairs), "skipped_lines": len(skipped)}

    def _adapter(self, name: str) -> TaskAdapter:
        """The task's adapter, a video task's clips at the run's frame count and size."""
        adapter = get_task(name)()
        if isinstance(adapter, ReadsVideo):
            adapter.n_frames, adapter.frame_size = self.config.frames, self.config.frame_size
        if isinstance(adapter, ReadsConversations):
            adapter.render_messages = self._renderer()
        return adapter

    def _renderer(self) -> MessageRenderer:
        """How conversational rows' prompts become text: the policy's chat template, if it has one."""
        if self._render is None:
            self._render = message_renderer(self.config.model)
        return self._render

    def _warm_start_examples(self, adapter: TaskAdapter, data: TaskData) -> list[CaptionExample]:
        if not data.synthetic or adapter.name not in EMBEDDED_WORLD_TASKS:
            return data.train
        # The same union in the same order for every task, so all of them share one cached warm start.
        examples: list[CaptionExample] = []
        for name in EMBEDDED_WORLD_TASKS:
            source = (
                data
                if name == adapter.name
                else self._adapter(name).load(None, seed=self.config.data_seed, size=self.config.size)
            )
            examples += source.train
        return examples

    def _warn(self, message: str) -> None:
        """A cache's report of an entry it could not use (and rebuilds): one line among the stages."""
        self.observer.stage(f"warning: {message}")

    def _check_loaded(self, adapter: TaskAdapter, data: TaskData, *, pairs_given: bool) -> None:
        """What the settings and the loaded data already decide, refused before the warm start's minutes:
        a source of pairs, and a judge that can score the task's eval data."""
        if not pairs_given and not data.train_pairs and not data.facts:
            raise UserError(
                f"task '{data.task}': real data has no ground-truth facts to rate sampled captions; "
                "give preference pairs with --pairs FILE"
            )
        adapter.check_evaluable(data, self.evaluator.judge)

    def _pair_judge(self, data: TaskData) -> CandidateRater:
        """Pairs are rated against ground-truth facts (``_check_loaded`` saw them): the run's judge when it
        can rate candidates (H, F, C), otherwise the exact-fact judge."""
        judge: Judge = self.evaluator.judge
        if isinstance(judge, CandidateRater):
            return judge
        exact = make_judge("exact")
        assert isinstance(exact, CandidateRater)
        return exact


def _earlier_start(
    task_dir: Path, start_key: str, examples: list[CaptionExample]
) -> tuple[list[str], dict[str, float]] | None:
    """The start's captions and quality as an earlier invocation wrote them (task.json, captions.jsonl),
    when its ``start_key`` is ``start_key`` and the captions cover ``examples`` in order; else None."""
    try:
        earlier = read_json(task_dir / "task.json")
    except (OSError, ValueError):
        return None
    if not isinstance(earlier, dict) or earlier.get("start_key") != start_key:
        return None
    quality, captions = earlier.get("start_quality"), read_captions(task_dir / CAPTIONS_FILE, examples)
    return (captions, quality) if isinstance(quality, dict) and captions is not None else None


def _as_dict(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _as_dict(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, Path):
        return str(value)
    return value
