"""VDD (video detailed description, lmms-eval ``video_dc499``): one long description per clip.

Real data (``--data-dir``): a JSON list (or JSON Lines) of entries with the video in ``video_name``
(also ``video_id``, ``videoID``, ``video``, ``id``; ``.mp4`` is added when looking for the file), the
reference description in ``answer`` (also ``description``, ``caption``, ``detailed_caption``) and, if
present, the instruction in ``question`` (else the embedded world's description prompt).

Metrics: ``detail_score`` (0-5, the judge's score / 2, the scale video_dc499 reports) and
``fact_accuracy`` (% of facts stated correctly) where the judge can grade the clips (the embedded world,
or a judge with ``grade_reference``), plus BLEU-1..4, METEOR, ROUGE-L and CIDEr against the reference;
per example (``item_scores``): detail_score, fact_accuracy, ROUGE-L and CIDEr (BLEU, METEOR: corpus-level).
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import fmean
from typing import Any, ClassVar

from synpo_bench.api.judges import Judge
from synpo_bench.api.tasks import CaptionExample, TaskData, register_task
from synpo_bench.tasks._caption_task import VIDEO_NAME_KEYS, Scored, VideoCaptionTask
from synpo_bench.tasks.data.annotations import RealEntry, text_field
from synpo_bench.tasks.data.video import strip_video_extension
from synpo_bench.tasks.metrics.caption import CAPTION_METRICS, caption_metric_items
from synpo_bench.tasks.metrics.facts import can_grade, fact_accuracy, grade_examples, vdc_score
from synpo_bench.tasks.world.references import DIMENSION_PROMPTS

DESCRIPTION_KEYS = ("answer", "description", "caption", "detailed_caption")


def parse_vdd_entry(raw: Any) -> RealEntry:
    video_name = text_field(raw, VIDEO_NAME_KEYS, "video name")
    description = text_field(raw, DESCRIPTION_KEYS, "reference description")
    question = raw.get("question")
    prompt = (
        question.strip()
        if isinstance(question, str) and question.strip()
        else DIMENSION_PROMPTS["description"]
    )
    clip = strip_video_extension(video_name)
    return RealEntry(clip, video_name, (CaptionExample(clip, "description", prompt, (description,)),))


@register_task("vdd", aliases=("video_dc499",))
class VddTask(VideoCaptionTask):
    name: ClassVar[str] = "vdd"
    description: ClassVar[str] = "Video detailed description: one long description per clip, judge-graded"
    metrics: ClassVar[tuple[str, ...]] = ("detail_score", "fact_accuracy", *CAPTION_METRICS)
    headline: ClassVar[tuple[str, ...]] = ("detail_score", "fact_accuracy", "CIDEr")
    dimensions: ClassVar[tuple[str, ...]] = ("description",)

    parse_entry = staticmethod(parse_vdd_entry)

    def score(self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge) -> Scored:
        metrics: dict[str, float] = {}
        items: list[dict[str, float]] = [{} for _ in data.eval]
        if data.eval and can_grade(judge, data.eval, data.facts):
            grades = grade_examples(judge, predictions, data.eval, data.facts)
            metrics["detail_score"] = fmean(map(vdc_score, grades))
            metrics["fact_accuracy"] = fmean(map(fact_accuracy, grades))
            for item, grade in zip(items, grades, strict=True):
                item.update(detail_score=vdc_score(grade), fact_accuracy=fact_accuracy(grade))
        caption_metrics, caption_items = caption_metric_items(predictions, data.eval)
        metrics.update(caption_metrics)
        for item, values in zip(items, caption_items, strict=True):
            item.update(values)
        return metrics, items
