"""Any ``Policy`` as an lmms-eval model object (``lmms_eval.api.model.lmms``), for ``simple_evaluate``.

Imported only by ``tasks/metrics/lmms_eval.py`` once lmms-eval is known to be installed (it imports
lmms-eval at the top, which costs 20-50 s the first time in a process).

Requests (lmms-eval 0.7.3) carry ``args = (context, gen_kwargs | continuation, doc_to_visual, doc_id,
task, split)``; the visuals are ``doc_to_visual(self.task_dict[task][split][doc_id])``, a list of video
file paths for video tasks. Each video is decoded to the run's ``--frames`` x ``--frame-size`` frames
(``tasks/data/video.py``), the frames every policy of the run was trained and evaluated on.

Two conventions of lmms-eval 0.7.3 that differ from lm-eval's (``PolicyLMM.loglikelihood``):

- its ``multiple_choice`` scoring takes ``argmin`` over the replies (its comment: "we return the actual
  loss"), so a reply is the *negative* log-likelihood of the continuation; returning lm-eval's
  log-likelihood would score a model that prefers the right answer 0.0;
- its evaluator turns every reply that is not text into ``str(reply)`` (``unwrap_generation_output``),
  which breaks every log-likelihood task. A ``GenerationResult`` is unwrapped to its ``text`` field
  unchanged, so the ``(nll, is_greedy)`` tuple travels in one, without patching lmms-eval.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lmms_eval.api.instance import GenerationResult, Instance
from lmms_eval.api.model import lmms

from synpo_bench.api.models import Policy, policy_logits
from synpo_bench.api.stats import IGNORE_INDEX, sequence_stats
from synpo_bench.tasks.data.video import decode_video

DEFAULT_MAX_NEW_TOKENS = 64


class LMMSInputError(ValueError):
    """A request this wrapper cannot serve (an image task, several videos for one prompt)."""


class PolicyLMM(lmms):
    """A policy in this process, scored by lmms-eval: greedy generation and continuation likelihoods."""

    def __init__(self, policy: Policy, *, frames: int, frame_size: int, batch_size: int = 8) -> None:
        super().__init__()
        self.policy = policy
        self.frames = frames
        self.frame_size = frame_size
        self.batch_size = batch_size

    # ------------------------------------------------------------------------------------------ inputs

    def _clip(self, request: Instance) -> np.ndarray | None:
        doc_to_visual, doc_id, task, split = request.args[2:6]
        visuals = doc_to_visual(self.task_dict[task][split][doc_id]) if doc_to_visual else None
        if not visuals:
            return None
        if len(visuals) != 1 or not isinstance(visuals[0], str | Path):
            raise LMMSInputError(
                f"lmms-eval task '{task}': a policy takes one video file per prompt, got "
                f"{len(visuals)} visual(s) of type {type(visuals[0]).__name__}"
            )
        return decode_video(Path(visuals[0]), self.frames, self.frame_size)

    def _clips(self, requests: Sequence[Instance]) -> list[np.ndarray] | None:
        """The requests' clips, or None when none has a video (a text-only task)."""
        clips = [self._clip(request) for request in requests]
        if all(clip is None for clip in clips):
            return None
        if any(clip is None for clip in clips):
            raise LMMSInputError("a batch mixes requests with and without a video")
        return [clip for clip in clips if clip is not None]

    # -------------------------------------------------------------------------------------- generation

    def generate_until(self, requests: list[Instance]) -> list[str]:
        """Greedy replies, cut at the task's ``until`` strings; batched by equal generation settings."""
        replies: list[str] = [""] * len(requests)
        for indices in _batches(requests, self.batch_size, key=lambda r: repr(sorted(r.args[1].items()))):
            batch = [requests[i] for i in indices]
            settings: dict[str, Any] = batch[0].args[1]
            self.policy.eval()
            with torch.inference_mode():
                texts = self.policy.generate(
                    self._clips(batch),
                    [request.args[0] for request in batch],
                    do_sample=False,
                    max_new_tokens=int(settings.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS),
                )
            for index, text in zip(indices, texts, strict=True):
                replies[index] = _cut(text, settings.get("until"))
        return replies

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError("multi-round tasks are not supported for synpo-bench policies")

    # --------------------------------------------------------------------------------- log-likelihood

    def loglikelihood(self, requests: list[Instance]) -> list[GenerationResult]:
        """``(negative log-likelihood, is_greedy)`` of each continuation given its context and video."""
        replies: list[GenerationResult] = []
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start : start + self.batch_size]
            nll, greedy = self._continuation_scores(batch)
            replies += [
                GenerationResult(text=(value, flag))  # type: ignore[arg-type]  # see the module docstring
                for value, flag in zip(nll, greedy, strict=True)
            ]
        return replies

    def _continuation_scores(self, batch: Sequence[Instance]) -> tuple[list[float], list[bool]]:
        collated = self.policy.collate(
            self._clips(batch), [r.args[0] for r in batch], [r.args[1] for r in batch]
        )
        inputs = {k: v.to(self.policy.device) if v is not None else None for k, v in collated.items()}
        labels = _without_end_token(inputs["labels"])
        self.policy.eval()
        with torch.inference_mode():
            logits = policy_logits(self.policy, inputs)
        stats = sequence_stats(logits, labels)
        targets, mask = labels[:, 1:], labels[:, 1:] != IGNORE_INDEX
        greedy = ((logits[:, :-1].argmax(-1) == targets) | ~mask).all(-1)
        return (-stats.logp_sum).tolist(), greedy.tolist()


def _without_end_token(labels: torch.Tensor) -> torch.Tensor:
    """The labels without each row's last labelled token: ``collate`` labels the response and its EOS,
    while a continuation's likelihood covers the continuation alone (a row of one token keeps it)."""
    labels = labels.clone()
    for row in labels:
        positions = (row != IGNORE_INDEX).nonzero().flatten()
        if len(positions) > 1:
            row[positions[-1]] = IGNORE_INDEX
    return labels


def _cut(text: str, until: Any) -> str:
    stops = [until] if isinstance(until, str) else list(until or [])
    for stop in stops:
        if stop:
            text = text.split(stop, 1)[0]
    return text


def _batches(requests: Sequence[Instance], size: int, key: Any) -> list[list[int]]:
    """Indices of the requests in batches of at most ``size`` sharing ``key(request)``, in order."""
    groups: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(key(request), []).append(index)
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]
