"""The vatex, vdc and vdd adapters on the embedded world: shared clips, formats, and evaluate()."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest

import synpo_bench.tasks.metrics.caption as caption_module
from synpo_bench.api.facts import ClipFacts
from synpo_bench.api.judges import FactGrade, JudgeError
from synpo_bench.api.tasks import CaptionExample, TaskData, get_task
from synpo_bench.tasks.judges.exact import ExactFactJudge
from synpo_bench.tasks.vatex import VatexTask
from synpo_bench.tasks.vdc import VdcTask
from synpo_bench.tasks.vdd import VddTask
from synpo_bench.tasks.world.clips import sample_facts
from synpo_bench.tasks.world.references import (
    DIMENSION_PROMPTS,
    VDC_DIMENSIONS,
    vatex_entry,
    vdc_entry,
    vdd_entry,
)
from tests._clips import CLIP_A

PERFECT_DETAILED = (
    "A large red circle moves left and a small blue square bounces on a striped background. "
    "The camera pans right."
)


def one_clip_data(task: str, dimensions: tuple[str, ...]) -> TaskData:
    examples = [
        CaptionExample(CLIP_A.clip_id, d, DIMENSION_PROMPTS[d], ("reference text.",)) for d in dimensions
    ]
    frames = {CLIP_A.clip_id: np.zeros((8, 32, 32, 3), np.uint8)}
    return TaskData(task, frames, [], examples, synthetic=True, facts={CLIP_A.clip_id: CLIP_A})


@pytest.fixture
def fake_caption_metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[dict, dict]]]:
    """Stand in for the COCO scorer (tested in test_caption_metrics); records what it was asked to score."""
    calls: list[tuple[dict, dict]] = []

    def scores_and_items(
        predictions: dict[str, str], references: dict[str, list[str]]
    ) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        calls.append((predictions, references))
        return {"BLEU-4": 12.5, "CIDEr": 40.0}, {key: {"ROUGE-L": 1.0, "CIDEr": 40.0} for key in references}

    monkeypatch.setattr(caption_module, "_scores_and_items", scores_and_items)
    yield calls


# ---------------------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    ("name", "adapter"),
    [
        ("vatex", VatexTask),
        ("vatex_test", VatexTask),
        ("vdc", VdcTask),
        ("camera_test", VdcTask),
        ("short_test", VdcTask),
        ("background_test", VdcTask),
        ("main_object_test", VdcTask),
        ("detailed_test", VdcTask),
        ("vdd", VddTask),
        ("video_dc499", VddTask),
    ],
)
def test_registered_under_names_and_lmms_eval_aliases(name: str, adapter: type) -> None:
    assert get_task(name) is adapter


# ------------------------------------------------------------------------------------ embedded data


def test_three_tasks_share_the_same_clips() -> None:
    loaded = {task: get_task(task)().load(None, seed=3, size="tiny") for task in ("vatex", "vdc", "vdd")}
    ids = {task: sorted(data.frames) for task, data in loaded.items()}
    assert ids["vatex"] == ids["vdc"] == ids["vdd"] and len(ids["vatex"]) == 24 + 8
    for clip in ids["vatex"]:
        assert np.array_equal(loaded["vatex"].frames[clip], loaded["vdd"].frames[clip])
        assert loaded["vdc"].facts[clip] == loaded["vatex"].facts[clip]
    for data in loaded.values():
        assert data.synthetic and data.source == "synthetic(seed=3, size=tiny)" and not data.skipped
        train_clips = {e.clip_id for e in data.train}
        eval_clips = {e.clip_id for e in data.eval}
        assert len(train_clips) == 24 and len(eval_clips) == 8 and train_clips.isdisjoint(eval_clips)
        assert all(clip.startswith("train-") for clip in train_clips)


def test_seed_changes_the_embedded_data() -> None:
    first = VatexTask().load(None, seed=0, size="tiny")
    second = VatexTask().load(None, seed=1, size="tiny")
    assert [first.facts[c] for c in sorted(first.facts)] != [second.facts[c] for c in sorted(second.facts)]


def test_examples_per_task() -> None:
    vatex = VatexTask().load(None, seed=0, size="tiny")
    assert {e.dimension for e in vatex.eval} == {"caption"}
    assert all(len(e.references) == 10 == len(set(e.references)) for e in vatex.train + vatex.eval)
    vdc = VdcTask().load(None, seed=0, size="tiny")
    assert len(vdc.eval) == 5 * 8
    assert [e.dimension for e in vdc.eval[:5]] == list(VDC_DIMENSIONS)
    assert all(e.prompt == DIMENSION_PROMPTS[e.dimension] and len(e.references) == 1 for e in vdc.eval)
    vdd = VddTask().load(None, seed=0, size="tiny")
    assert all(e.dimension == "description" and len(e.references[0].split()) > 20 for e in vdd.eval)


def test_frame_settings_are_configurable() -> None:
    data = VddTask(n_frames=4, frame_size=16).load(None, seed=0, size="tiny")
    assert next(iter(data.frames.values())).shape == (4, 16, 16, 3)


def test_public_format_entries() -> None:
    facts = sample_facts("test", 0, 0)
    vatex = vatex_entry(facts)
    assert set(vatex) == {"videoID", "enCap"} and len(vatex["enCap"]) == 10
    vdc = vdc_entry(facts)
    assert vdc["video_name"] == "test-00000.mp4"
    assert {key for key in vdc if key.endswith("_caption")} == {f"{d}_caption" for d in VDC_DIMENSIONS}
    assert set(vdd_entry(facts)) == {"video_name", "question", "answer"}


def test_paraphrases_are_varied() -> None:
    """Across clips, VATEX captions use many sentence openings and verb phrases, not one template."""
    captions = [c for i in range(30) for c in vatex_entry(sample_facts("train", i, 0))["enCap"]]
    openings = {" ".join(c.lower().split()[:2]) for c in captions}
    assert len(openings) >= 15
    words = {w for c in captions for w in c.lower().strip(".").split()}
    assert {"slides", "drifts", "rises", "falls", "bounces", "ball", "box", "while"} <= words


# ---------------------------------------------------------------------------------------- evaluate


def test_vdc_evaluate_hand_computed() -> None:
    data = one_clip_data("vdc", VDC_DIMENSIONS)
    predictions = {
        (CLIP_A.clip_id, "short"): "A red circle moves left.",  # 3 right, 3 missed: 50%, 10*3/6/2 = 2.5
        (CLIP_A.clip_id, "detailed"): PERFECT_DETAILED,  # 100%, 5
        (CLIP_A.clip_id, "background"): "The background is checkered.",  # 0 right, 1 false: 0%, 0
        (CLIP_A.clip_id, "main_object"): "A large red circle moves left.",  # 100%, 5
        # camera: no prediction, graded as empty: 0%, 0
    }
    metrics = VdcTask().evaluate(predictions, data, ExactFactJudge())
    assert metrics == {
        "short_accuracy": 50.0,
        "short_score": 2.5,
        "detailed_accuracy": 100.0,
        "detailed_score": 5.0,
        "background_accuracy": 0.0,
        "background_score": 0.0,
        "main_object_accuracy": 100.0,
        "main_object_score": 5.0,
        "camera_accuracy": 0.0,
        "camera_score": 0.0,
        "mean_accuracy": 50.0,
        "mean_score": 2.5,
    }
    assert set(metrics) == set(VdcTask.metrics)


def test_vdc_evaluate_on_real_data_needs_a_reference_judge() -> None:
    data = one_clip_data("vdc", ("camera",))
    data.facts.clear()
    with pytest.raises(JudgeError, match="ground-truth facts"):
        VdcTask().evaluate({}, data, ExactFactJudge())

    class ReferenceJudge:  # the api's ReferenceJudge protocol: name, grade and grade_reference
        name = "reference"

        def grade(self, caption: str, facts: ClipFacts, dimension: str) -> FactGrade:
            raise AssertionError("real data has no facts to grade against")

        def grade_reference(self, caption: str, references: Sequence[str], dimension: str) -> FactGrade:
            return FactGrade(1, 1, 0, 5.0)

    metrics = VdcTask().evaluate({}, data, ReferenceJudge())
    assert metrics == {"camera_accuracy": 50.0, "camera_score": 2.5, "mean_accuracy": 50.0, "mean_score": 2.5}


def test_vatex_evaluate(fake_caption_metrics: list[tuple[dict, dict]]) -> None:
    data = one_clip_data("vatex", ("caption",))
    predictions = {(CLIP_A.clip_id, "caption"): "A red circle moves left."}  # 3 of 6 facts, none false
    metrics = VatexTask().evaluate(predictions, data, ExactFactJudge())
    assert metrics == {"BLEU-4": 12.5, "CIDEr": 40.0, "fact_accuracy": 50.0, "fact_score": 5.0}
    assert fake_caption_metrics == [
        ({CLIP_A.clip_id: "A red circle moves left."}, {CLIP_A.clip_id: ["reference text."]})
    ]
    # Real data: no facts, so only the caption metrics.
    data.facts.clear()
    assert VatexTask().evaluate(predictions, data, ExactFactJudge()) == {"BLEU-4": 12.5, "CIDEr": 40.0}


def test_vdd_evaluate(fake_caption_metrics: list[tuple[dict, dict]]) -> None:
    data = one_clip_data("vdd", ("description",))
    # circle: 4 right, background right; square (4) and camera missed: 5 of 10, score 10*5/10 = 5.
    caption = "The video shows a large red circle moving left on a striped background."
    metrics = VddTask().evaluate({(CLIP_A.clip_id, "description"): caption}, data, ExactFactJudge())
    assert metrics == {"detail_score": 2.5, "fact_accuracy": 50.0, "BLEU-4": 12.5, "CIDEr": 40.0}
    assert set(metrics) <= set(VddTask.metrics)
