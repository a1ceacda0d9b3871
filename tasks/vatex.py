"""VATEX captioning: one sentence per clip, scored against ten reference captions.

Real data (``--data-dir``): VATEX's public JSON, a list of ``{"videoID": ..., "enCap": [English
captions], ...}`` (``chCap`` and other fields are ignored; entries without ``enCap``, such as those of
the public test file, are skipped and counted), with videos named ``<videoID>.mp4`` (see
``tasks/data/real_task.py`` for where videos are looked for and how splits are chosen).

Metrics: BLEU-1..4, METEOR, ROUGE-L and CIDEr from ``tasks/metrics/caption.py`` (COCO definitions, x100;
METEOR is absent without Java), plus, on the embedded world, the exact-fact judge's ``fact_accuracy``
(% of the clip's objects' shape / colour / motion facts stated correctly) and ``fact_score`` (0-10);
per example (``item_scores``): ROUGE-L, CIDEr, fact_accuracy and fact_score (BLEU, METEOR: corpus-level).
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import fmean
from typing import Any, ClassVar

from synpo_bench.api.judges import Judge
from synpo_bench.api.tasks import CaptionExample, TaskData, register_task
from synpo_bench.tasks._caption_task import Scored, VideoCaptionTask
from synpo_bench.tasks.data.annotations import EntryError, RealEntry, text_field
from synpo_bench.tasks.data.video import strip_video_extension
from synpo_bench.tasks.metrics.caption import CAPTION_METRICS, caption_metric_items
from synpo_bench.tasks.metrics.facts import can_grade, fact_accuracy, grade_examples
from synpo_bench.tasks.world.references import DIMENSION_PROMPTS


def fact_metrics(
    judge: Judge, predictions: Mapping[tuple[str, str], str], data: TaskData
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Mean fact accuracy (%) and mean 0-10 fact score of the eval predictions, and each example's two
    values; empty if ungradeable."""
    if not data.eval or not can_grade(judge, data.eval, data.facts):
        return {}, [{} for _ in data.eval]
    grades = grade_examples(judge, predictions, data.eval, data.facts)
    metrics = {
        "fact_accuracy": fmean(map(fact_accuracy, grades)),
        "fact_score": fmean(g.score for g in grades),
    }
    return metrics, [{"fact_accuracy": fact_accuracy(g), "fact_score": g.score} for g in grades]


def parse_vatex_entry(raw: Any) -> RealEntry:
    video_id = text_field(raw, ("videoID",), "'videoID'")
    captions = raw.get("enCap")
    if not isinstance(captions, list) or not captions:
        raise EntryError("'enCap' must be a non-empty list of English captions")
    references = tuple(text.strip() for text in captions if isinstance(text, str) and text.strip())
    if not references:
        raise EntryError("'enCap' holds no caption text")
    clip = strip_video_extension(video_id)
    example = CaptionExample(clip, "caption", DIMENSION_PROMPTS["caption"], references)
    return RealEntry(clip, video_id, (example,))


@register_task("vatex", aliases=("vatex_test",))
class VatexTask(VideoCaptionTask):
    name: ClassVar[str] = "vatex"
    description: ClassVar[str] = "VATEX video captioning: one sentence per clip vs 10 references"
    metrics: ClassVar[tuple[str, ...]] = (*CAPTION_METRICS, "fact_accuracy", "fact_score")
    headline: ClassVar[tuple[str, ...]] = ("CIDEr", "BLEU-4", "fact_accuracy")
    dimensions: ClassVar[tuple[str, ...]] = ("caption",)

    parse_entry = staticmethod(parse_vatex_entry)

    def score(self, predictions: Mapping[tuple[str, str], str], data: TaskData, judge: Judge) -> Scored:
        metrics, items = caption_metric_items(predictions, data.eval)
        facts, fact_items = fact_metrics(judge, predictions, data)
        metrics.update(facts)
        for item, values in zip(items, fact_items, strict=True):
            item.update(values)
        return metrics, items
