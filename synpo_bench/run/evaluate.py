"""Evaluation, the same for the starting model and for every trained policy.

Greedy captions of the task's eval examples (written to ``captions.jsonl``), the task's own metrics with
the run's judge, held-out preference accuracy, the lm-eval tasks on the policy's language model, the
lmms-eval video tasks on the whole policy (``lmms:``), and,
for trained policies on data with ground-truth facts, the judge's win rate over the starting model; each
example's values of the metrics that are means over examples go to ``item_scores.jsonl``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch

from synpo_bench.api.judges import Judge
from synpo_bench.api.models import Policy
from synpo_bench.api.tasks import PreferencePair, TaskAdapter, TaskData
from synpo_bench.config import LMMS_PREFIX, NLP_PREFIX, RunConfig
from synpo_bench.pairs import caption_token_budget
from synpo_bench.run.record import CAPTIONS_FILE, ITEM_SCORES_FILE, write_captions, write_item_scores
from synpo_bench.tasks.metrics.lm_eval import evaluate_lm
from synpo_bench.tasks.metrics.lmms_eval import evaluate_lmms
from synpo_bench.tasks.metrics.preference import heldout_preference, win_outcomes, win_rate

MAX_EVAL_CAPTION_TOKENS = 512


class Evaluator:
    """Scores models for one run: one judge, one device, one caption length rule."""

    def __init__(self, config: RunConfig, judge: Judge, device: torch.device) -> None:
        self.config = config
        self.judge = judge
        self.device = device

    def captions(self, model: Policy, data: TaskData) -> list[str]:
        """Greedy captions of ``data.eval``; long enough for the longest reference unless the user set one."""
        model.eval()
        with torch.inference_mode():
            return model.generate(
                [data.frames[e.clip_id] for e in data.eval] if data.frames else None,
                [e.prompt for e in data.eval],
                do_sample=False,
                max_new_tokens=self.config.max_new_tokens
                or caption_token_budget(model.tokenizer, data.eval, cap=MAX_EVAL_CAPTION_TOKENS),
            )

    def quality(
        self,
        model: Policy,
        adapter: TaskAdapter,
        data: TaskData,
        heldout: Sequence[PreferencePair],
        captions: Sequence[str],
        folder: Path,
        start_captions: Sequence[str] | None = None,
    ) -> dict[str, float]:
        """The task's metrics, held-out preference accuracy and margin, the lm-eval scores of ``model`` and,
        given the starting model's captions on data with facts, the judge's win rate over them; each
        example's values go to ``item_scores.jsonl`` in ``folder`` (for paired comparisons in reports)."""
        predictions = {
            (e.clip_id, e.dimension): caption for e, caption in zip(data.eval, captions, strict=True)
        }
        quality, items = adapter.score(predictions, data, self.judge)
        outcomes = None
        if start_captions is not None and data.facts:
            outcomes = win_outcomes(self.judge, data.eval, captions, start_captions, data.facts)
            items = [
                {**item, "win_rate": 100.0 * outcome}
                for item, outcome in zip(items or [{} for _ in data.eval], outcomes, strict=True)
            ]
        if heldout:
            preference = heldout_preference(model, heldout, data.frames, self.config.train.batch_size)
            quality["heldout_pref_accuracy"] = 100.0 * preference.accuracy
            quality["heldout_pref_margin"] = preference.margin
        quality.update(self._lm_eval_scores(model, folder))
        quality.update(self._lmms_eval_scores(model, folder))
        if outcomes is not None:
            quality.update(win_rate(outcomes))
        if items is not None:
            write_item_scores(folder / ITEM_SCORES_FILE, data.eval, items)
        return {key: float(value) for key, value in quality.items()}

    def evaluate_policy(
        self,
        policy: Policy,
        adapter: TaskAdapter,
        data: TaskData,
        heldout: Sequence[PreferencePair],
        start_captions: Sequence[str],
        folder: Path,
    ) -> tuple[dict[str, float], float]:
        """A trained policy's quality (with the win rate over the start's captions) and the seconds spent."""
        start = time.perf_counter()
        captions = self.captions(policy, data)
        write_captions(folder / CAPTIONS_FILE, data.eval, captions)
        quality = self.quality(policy, adapter, data, heldout, captions, folder, start_captions)
        return quality, time.perf_counter() - start

    def _lm_eval_scores(self, model: Policy, folder: Path) -> dict[str, float]:
        """The policy's language part on the lm-eval tasks, text only; lm-eval's JSON goes to ``folder``."""
        if not self.config.nlp_tasks:
            return {}
        scores = evaluate_lm(
            model.language_model(),
            model.tokenizer,
            list(self.config.nlp_tasks),
            out_dir=folder,
            batch_size=self.config.train.batch_size,
            device=str(self.device),
            quiet=True,
        )
        return {f"{NLP_PREFIX}{name}": value for name, value in scores.items()}

    def _lmms_eval_scores(self, model: Policy, folder: Path) -> dict[str, float]:
        """The whole policy on the lmms-eval video tasks at the run's frames; lmms-eval's JSON goes to
        ``folder``; judged tasks grade with the run's judge (``--judge``)."""
        if not self.config.lmms_tasks:
            return {}
        scores = evaluate_lmms(
            model,
            list(self.config.lmms_tasks),
            frames=self.config.frames,
            frame_size=self.config.frame_size,
            judge=self.judge,
            judge_spec=(self.config.judge, self.config.judge_model),
            out_dir=folder,
            batch_size=self.config.train.batch_size,
            device=str(self.device),
            quiet=True,
        )
        return {f"{LMMS_PREFIX}{name}": value for name, value in scores.items()}
