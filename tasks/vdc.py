"""VDC (AuroraCap's Video Detailed Captions): five captions per clip, graded per dimension.

Dimensions: ``short``, ``detailed``, ``background``, ``main_object``, ``camera``; lmms-eval's task
names ``short_test`` ... ``camera_test`` are aliases of this one task (it always runs all five).

Real data (``--data-dir``): AuroraCap's ``VDC_1k.jsonl``, one JSON object per line with the video's file
name in ``video_name`` (also accepted: ``video_id``, ``videoID``, ``video``, ``id``) and the captions in
``short_caption``, ``detailed_caption``, ``background_caption``, ``main_object_caption`` and
``camera_caption`` (top level or under ``captions``, where the bare dimension names are accepted too).
An entry with some dimensions missing keeps the others; one with none is skipped.

Metrics (VDCscore's): per dimension ``<dim>_accuracy`` (% of the questions about the dimension's facts
that the caption answers exactly) and ``<dim>_score`` (0-5), plus ``mean_accuracy`` and ``mean_score``
over the dimensions (``metrics.facts`` says how both are computed);
``item_scores`` gives each example's values of these (docs/CONTRACTS.md, ``item_scores.jsonl``).
The embedded world is graded exactly against its facts; real captions need a judge that grades against
reference text (``grade_reference``, e.g. an LLM judge); the exact-fact judge raises ``JudgeError``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from statistics import fmean
from typing import Any, ClassVar

from synpo_bench.api.judges import FactGrade, Judge, JudgeError
from synpo_bench.api.tasks import CaptionExample, TaskData, register_task
from synpo_bench.tasks._caption_task import VIDEO_NAME_KEYS, Scored, VideoCaptionTask
from synpo_bench.tasks.data.annotations import EntryError, RealEntry, text_field
from synpo_bench.tasks.data.video import strip_video_extension
from synpo_bench.tasks.metrics.facts import (
    can_grade,
    fact_accuracy,
    grade_examples,
    summarize_vdc,
    vdc_score,
)
from synpo_bench.tasks.world.references import DIMENSION_PROMPTS, VDC_DIMENSIONS


def _caption_of(captions: Mapping[str, Any], dimension: str) -> str | None:
    for key in (f"{dimension}_caption", dimension):
        value = captions.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise EntryError(f"'{key}' must be a non-empty string")
        return value.strip()
    return None


def parse_vdc_entry(raw: Any) -> RealEntry:
    video_name = text_field(raw, VIDEO_NAME_KEYS, "video name")
    captions = raw["captions"] if isinstance(raw.get("captions"), dict) else raw
    clip = strip_video_extension(video_name)
    examples = []
    for dimension in VDC_DIMENSIONS:
        text = _caption_of(captions, dimension)
        if text is not None:
            examples.append(CaptionExample(clip, dimension, DIMENSION_PROMPTS[dimension], (text,)))
    if not examples:
        raise EntryError(f"no caption of any dimension ({', '.join(f'{d}_caption' for d in VDC_DIMENSIONS)})")
    return RealEntry(clip, video_name, tuple(examples))


@register_task(
    "vdc", aliases=("camera_test", "short_test", "background_test", "main_object_test", "detailed_test")
)
class VdcTask(VideoCaptionTask):
    name: ClassVar[str] = "vdc"
    description: ClassVar[str] = "VDC detailed captions: short, detailed, background, main object, camera"
    metrics: ClassVar[tuple[str, ...]] = (
        *(f"{dim}_{kind}" for dim in VDC_DIMENSIONS for kind in ("accuracy", "score")),
        "mean_accuracy",
        "mean_score",
    )
    headline: ClassVar[tuple[str, ...]] = ("mean_accuracy", "mean_score")
    dimensions: ClassVar[tuple[str, ...]] = VDC_DIMENSIONS

    parse_entry = staticmethod(parse_vdc_entry)

    def check_evaluable(self, data: TaskData, judge: Judge) -> None:
        # Every VDC metric is a judge's grade: no grade, no result (VATEX and VDD keep caption metrics).
        if data.eval and not can_grade(judge, data.eval, data.facts):
            raise JudgeError(
                f"task 'vdc': judge '{judge.name}' grades against ground-truth facts, and this data has none "
                "(real data); grade real VDC captions with an LLM judge (--judge URL or --judge hf:PATH)"
            )

    def score(self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge) -> Scored:
        grades = grade_examples(judge, predictions, data.eval, data.facts)
        by_dimension: dict[str, list[FactGrade]] = defaultdict(list)
        for example, grade in zip(data.eval, grades, strict=True):
            by_dimension[example.dimension].append(grade)
        metrics: dict[str, float] = {}
        for dimension in VDC_DIMENSIONS:
            if by_dimension[dimension]:
                summary = summarize_vdc(by_dimension[dimension])
                metrics[f"{dimension}_accuracy"] = summary["accuracy"]
                metrics[f"{dimension}_score"] = summary["score"]
        graded = [d for d in VDC_DIMENSIONS if by_dimension[d]]
        if graded:
            metrics["mean_accuracy"] = fmean(metrics[f"{d}_accuracy"] for d in graded)
            metrics["mean_score"] = fmean(metrics[f"{d}_score"] for d in graded)
        return metrics, _items(data.eval, grades, {d: len(by_dimension[d]) for d in graded})


def _items(
    examples: Sequence[CaptionExample], grades: Sequence[FactGrade], counts: Mapping[str, int]
) -> list[dict[str, float]]:
    """Per example its dimension's accuracy and score, and its share of the means over dimensions: each
    value weighted by n / (dimensions x examples of its dimension), 1 when every dimension has as many
    examples (the embedded world), so that the mean over examples is the mean over dimensions."""
    items = []
    for example, grade in zip(examples, grades, strict=True):
        accuracy, score = fact_accuracy(grade), vdc_score(grade)
        weight = len(examples) / (len(counts) * counts[example.dimension])
        items.append(
            {
                f"{example.dimension}_accuracy": accuracy,
                f"{example.dimension}_score": score,
                "mean_accuracy": accuracy * weight,
                "mean_score": score * weight,
            }
        )
    return items
