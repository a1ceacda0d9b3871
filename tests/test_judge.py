"""The exact-fact judge on hand-written captions (hand-counted numbers) and on every generated reference."""

from __future__ import annotations

import pytest

from synpo_bench.api.facts import ClipFacts, ObjectFacts
from synpo_bench.api.judges import FactGrade, JudgeError
from synpo_bench.api.tasks import CaptionExample
from synpo_bench.tasks.judges._exact.grader import DIMENSION_FACTS
from synpo_bench.tasks.judges._exact.parser import parse_caption
from synpo_bench.tasks.judges.exact import ExactFactJudge
from synpo_bench.tasks.metrics.facts import fact_accuracy, grade_examples, summarize_vdc, vdc_score
from synpo_bench.tasks.world.clips import sample_facts
from synpo_bench.tasks.world.references import REFERENCE_WRITERS
from tests._clips import CLIP_A

JUDGE = ExactFactJudge()


def counts(caption: str, dimension: str, facts: ClipFacts = CLIP_A) -> tuple[int, int, int]:
    grade = JUDGE.grade(caption, facts, dimension)
    return grade.correct, grade.missed, grade.hallucinated


@pytest.mark.parametrize(
    ("caption", "dimension", "expected"),
    [
        # everything right
        (
            "A large red circle moves to the left and a small blue square bounces on a striped background. "
            "The camera pans right.",
            "detailed",
            (10, 0, 0),
        ),
        # wrong colour: "what colour is the circle?" is answered wrong (green hallucinated) and "what shape is
        # the red object?" is unanswered; size and motion of the circle right; square (4), background and
        # camera missed (was (3, 7, 1) when the shape was credited by matching the green circle to the red)
        ("A large green circle moves to the left.", "detailed", (2, 8, 1)),
        # an extra object: the yellow triangle's shape, colour and motion are 3 hallucinations
        ("A red circle moves left, a blue square bounces and a yellow triangle falls.", "short", (6, 0, 3)),
        # camera left out
        (
            "A large red circle moves left while a small blue square bounces on a striped background.",
            "detailed",
            (9, 1, 0),
        ),
        # wrong camera
        ("The camera zooms in.", "camera", (0, 1, 1)),
        ("The view pans to the right.", "camera", (1, 0, 0)),
        # fronted participles, synonyms (ball, box, big, tiny), "up and down"
        (
            "Moving to the left is a big red ball, while bouncing up and down is a tiny blue box.",
            "main_object",
            (4, 0, 0),
        ),
        # wrong shape: the caption's square is the red object, so "what shape is the red object?" is wrong,
        # "what colour is the square / how does it move?" wrong, the circle's questions unanswered; one
        # false fact (square, of the red object). Was (2, 4, 1): colour and motion credited to the circle.
        ("A red square moves left.", "short", (0, 6, 1)),
        # a wrong camera and a wrong motion count as false even where the dimension does not ask for them
        ("The camera is static while a red circle moves right.", "short", (2, 4, 2)),
        # pronoun across sentences; object order reversed
        ("A blue square bounces. There is a red circle. It moves left.", "short", (6, 0, 0)),
        # right facts outside the dimension are neither rewarded nor punished
        ("The background is striped and the camera pans right.", "main_object", (0, 4, 0)),
        ("A checkered background.", "background", (0, 1, 1)),
        ("", "short", (0, 6, 0)),
    ],
)
def test_hand_counted_grades(caption: str, dimension: str, expected: tuple[int, int, int]) -> None:
    assert counts(caption, dimension) == expected


def test_score_formula() -> None:
    # 2 correct, 8 missed, 1 hallucinated: 10 * 2 / 11
    grade = JUDGE.grade("A large green circle moves to the left.", CLIP_A, "detailed")
    assert grade.score == pytest.approx(20 / 11)
    assert JUDGE.grade("The view pans to the right.", CLIP_A, "camera").score == 10.0


def test_repeated_mentions_of_one_object_are_merged() -> None:
    caption = (
        "The video shows a large red circle and a small blue square. The red ball moves left. The box hops."
    )
    assert counts(caption, "short") == (6, 0, 0)
    assert len(parse_caption(caption).mentions) == 2


def test_two_objects_of_one_shape_are_told_apart_by_colour() -> None:
    facts = ClipFacts(
        "test-00001",
        (
            ObjectFacts("circle", "green", "large", "up", 0.5, 0.5),
            ObjectFacts("circle", "orange", "small", "down", 0.2, 0.2),
        ),
        "gray",
        "static",
        texture_seed=3,
    )
    assert counts("An orange circle falls and a green circle rises.", "short", facts) == (6, 0, 0)
    # motions swapped: "how does the green object move?" (down) and "what colour is the object that
    # rises?" (orange) are wrong for both objects; only the shapes are right; each motion is false once
    # (was (4, 2, 2): colours credited by matching each circle to its colour)
    assert counts("An orange circle rises and a green circle falls.", "short", facts) == (2, 4, 2)


def test_camera_words_do_not_leak_into_objects() -> None:
    parsed = parse_caption("The camera pans left while a red circle stays still.")
    assert parsed.cameras == {"pan left"}
    assert [(m.shape, m.motions) for m in parsed.mentions] == [("circle", {"still"})]
    assert parse_caption("A static camera films a red ball.").cameras == {"static"}
    assert parse_caption("The camera pulls back.").cameras == {"zoom out"}


def test_every_generated_reference_is_a_perfect_caption() -> None:
    for seed, split in ((0, "train"), (4, "test")):
        for index in range(60):
            facts = sample_facts(split, index, seed)
            for dimension, write in REFERENCE_WRITERS.items():
                for reference in write(facts):
                    grade = JUDGE.grade(reference, facts, dimension)
                    assert (grade.missed, grade.hallucinated) == (0, 0), (dimension, reference, facts)
                    assert grade.score == 10.0


def test_unknown_dimension_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown caption dimension"):
        JUDGE.grade("a red circle.", CLIP_A, "colour")
    assert set(DIMENSION_FACTS) == {
        "caption",
        "short",
        "detailed",
        "description",
        "background",
        "main_object",
        "camera",
    }


# -------------------------------------------------------------------------------------------- rating


def test_rate_hand_computed() -> None:
    right = "A red circle moves left."  # claims: circle, circle red, circle left
    wrong = "A red circle moves right."  # claims: circle, circle red, circle right; 1 hallucination
    first, second = JUDGE.rate([right, wrong], CLIP_A, "short")
    # Jaccard of the claim sets: 2 shared / 4 in the union = 0.5, so C = 1.5 for both.
    assert (first.hallucination, first.fluency, first.consistency) == (5.0, 5.0, pytest.approx(1.5))
    assert (second.hallucination, second.fluency, second.consistency) == (4.0, 5.0, pytest.approx(1.5))
    assert (first.hallucination, first.fluency, first.consistency) == (first.H, first.F, first.C)
    assert first.combined == pytest.approx(1.1 * 5 + 5 + 1.5)  # 12.0
    assert second.combined == pytest.approx(1.1 * 4 + 5 + 1.5)  # 10.9
    assert first.score10 == pytest.approx(12.0 / 13.5 * 10)
    assert first.grade == FactGrade(correct=3, missed=3, hallucinated=0, score=5.0)  # the square is missed


@pytest.mark.parametrize(
    ("caption", "fluency"),
    [
        ("A red circle moves left.", 5.0),
        ("A red red circle moves left.", 4.0),  # one immediate repeat
        ("A red circle moves left. A red circle moves left.", 4.0),  # one repeated clause
        ("A red circle moves left", 4.0),  # no final punctuation
        ("A red circle moves to the", 3.0),  # cut off after "the"
        ("A red circle zorps left.", 4.0),  # one unknown word
        ("left left left left left left left", 0.0),  # six repeats and no full stop: clipped at 0
        ("", 0.0),
    ],
)
def test_fluency(caption: str, fluency: float) -> None:
    assert JUDGE.rate([caption], CLIP_A, "short")[0].fluency == fluency


def test_lone_candidate_is_fully_consistent_and_an_empty_one_not_at_all() -> None:
    assert JUDGE.rate(["A red circle moves left."], CLIP_A, "short")[0].C == 3.0
    empty, _ = JUDGE.rate(["", "A red circle moves left."], CLIP_A, "short")
    assert (empty.H, empty.F, empty.C) == (5.0, 0.0, 0.0)


def test_many_hallucinations_floor_h_at_zero() -> None:
    caption = "A green triangle falls, a yellow box rises and the camera zooms in on a dotted background."
    # triangle + green + down, square(box) + yellow + up = 6 (neither matches: more contradicted than
    # agreed), zoom in, dotted: 8 hallucinations
    assert counts(caption, "short") == (0, 6, 8)
    assert JUDGE.rate([caption], CLIP_A, "short")[0].H == 0.0


# ---------------------------------------------------------------------------------- VDC-style helpers


def test_vdc_summaries() -> None:
    grade = FactGrade(correct=3, missed=1, hallucinated=2, score=5.0)
    assert fact_accuracy(grade) == 75.0
    assert vdc_score(grade) == 2.5
    summary = summarize_vdc([grade, FactGrade(1, 1, 0, 5.0)])
    assert summary == {"accuracy": pytest.approx((75 + 50) / 2), "score": pytest.approx(2.5)}


def test_grading_real_data_needs_facts_or_a_reference_judge() -> None:
    example = CaptionExample("real-1", "short", "describe the video briefly.", ("A dog runs.",))
    with pytest.raises(JudgeError, match="real-1"):
        grade_examples(JUDGE, {}, [example], facts={})

    class ReferenceJudge:  # the ReferenceJudge protocol: name, grade, grade_reference
        name = "reference-stub"

        def grade(self, caption: str, facts: ClipFacts, dimension: str) -> FactGrade:
            raise AssertionError("real data has no facts")

        def grade_reference(self, caption: str, references: tuple[str, ...], dimension: str) -> FactGrade:
            return FactGrade(1, 0, 0, 10.0) if caption == references[0] else FactGrade(0, 1, 0, 0.0)

    grades = grade_examples(ReferenceJudge(), {("real-1", "short"): "A dog runs."}, [example], facts={})
    assert grades == [FactGrade(1, 0, 0, 10.0)]
