"""Caption metrics against values worked out by hand on tiny corpora (all scores x100).

With Java present the scores go through the PTB tokenizer and METEOR starts once (~9 s); the sentences
are lower-case words without punctuation, so both tokenizers give the same tokens and the hand values hold.
"""

from __future__ import annotations

import math

import pytest

import synpo_bench.tasks.metrics.caption as caption_metrics
from synpo_bench.tasks.metrics.caption import caption_metrics_implementation, caption_scores, java_available

needs_java = pytest.mark.skipif(not java_available(), reason="java not installed: METEOR/PTB not available")
BETA_SQUARED = 1.2**2  # pycocoevalcap's ROUGE-L beta


def rouge_f(precision: float, recall: float) -> float:
    return (1 + BETA_SQUARED) * precision * recall / (recall + BETA_SQUARED * precision)


def test_bleu_one_sentence_with_brevity_penalty() -> None:
    # 5 predicted words, all in the 7-word reference: p1 = 5/5; bigrams a-red, red-ball, ball-moves match,
    # moves-left does not: p2 = 3/4. Brevity penalty exp(1 - 7/5).
    scores = caption_scores({"v1": "a red ball moves left"}, {"v1": ["a red ball moves to the left"]})
    penalty = math.exp(1 - 7 / 5)
    assert scores["BLEU-1"] == pytest.approx(100 * penalty, rel=1e-6)
    assert scores["BLEU-2"] == pytest.approx(100 * penalty * math.sqrt(1 * 3 / 4), rel=1e-6)


def test_rouge_l_from_the_longest_common_subsequence() -> None:
    # LCS("a red ball moves left", "a red ball moves to the left") = 5: precision 5/5, recall 5/7.
    scores = caption_scores({"v1": "a red ball moves left"}, {"v1": ["a red ball moves to the left"]})
    assert scores["ROUGE-L"] == pytest.approx(100 * rouge_f(1.0, 5 / 7), rel=1e-9)


def test_rouge_l_takes_best_precision_and_best_recall_over_references() -> None:
    # "the cat sat" vs "the cat": LCS 2 -> P 2/3, R 2/2; vs "a dog sat on the mat": LCS 1 -> P 1/3, R 1/6.
    scores = caption_scores({"v1": "the cat sat"}, {"v1": ["the cat", "a dog sat on the mat"]})
    assert scores["ROUGE-L"] == pytest.approx(100 * rouge_f(2 / 3, 1.0), rel=1e-9)


TWO_CLIPS = {
    "A": ["a red ball rolls", "a red ball rolls"],
    "B": ["a blue cube spins", "a blue cube spins"],
}


def test_cider_of_captions_identical_to_every_reference_is_ten() -> None:
    # Each n-gram vector equals every reference's, so each cosine (n = 1..4) is 1 and the length penalty
    # exp(0) = 1: CIDEr-D = 10 x mean over n of 1 = 10, i.e. 1000 on the x100 scale. ("a" has df 2 = N,
    # idf 0, and drops out of both vectors alike.)
    scores = caption_scores({"A": "a red ball rolls", "B": "a blue cube spins"}, TWO_CLIPS)
    assert scores["CIDEr"] == pytest.approx(1000.0, rel=1e-9)
    assert scores["ROUGE-L"] == pytest.approx(100.0)
    assert scores["BLEU-4"] == pytest.approx(100.0, rel=1e-6)


def test_captions_sharing_nothing_score_zero() -> None:
    scores = caption_scores({"A": "green pyramid jumps high", "B": "seven tall trees grow"}, TWO_CLIPS)
    for name in ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr", *(("METEOR",) if "METEOR" in scores else ())):
        assert scores[name] == pytest.approx(0.0, abs=1e-9), name


def test_missing_prediction_counts_as_empty_caption() -> None:
    # A is perfect, B is missing (empty). BLEU-1: 4 of 4 predicted words match, but the corpus reference
    # length is 4 + 4 against 4 predicted words: penalty exp(1 - 8/4). ROUGE-L mean(1, 0); CIDEr mean(10, 0).
    scores = caption_scores({"A": "a red ball rolls"}, TWO_CLIPS)
    assert scores["BLEU-1"] == pytest.approx(100 * math.exp(-1), rel=1e-6)
    assert scores["ROUGE-L"] == pytest.approx(50.0)
    assert scores["CIDEr"] == pytest.approx(500.0, rel=1e-9)
    assert caption_scores({"A": "", "B": ""}, TWO_CLIPS)["CIDEr"] == 0.0


def test_prediction_for_an_unknown_id_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"1 prediction id\(s\) have no references: 'C'"):
        caption_scores({"A": "a red ball", "C": "a cat"}, TWO_CLIPS)


@pytest.mark.parametrize(
    ("references", "message"),
    [({}, "no references given"), ({"A": []}, "must be a non-empty list"), ({"A": ["...", ""]}, "no words")],
)
def test_unusable_references_are_clear_errors(references: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        caption_scores({}, references)


@needs_java
def test_meteor_with_java_orders_identical_partial_disjoint() -> None:
    identical = caption_scores({"A": "a red ball rolls", "B": "a blue cube spins"}, TWO_CLIPS)["METEOR"]
    partial = caption_scores({"A": "a red ball", "B": "a blue cube"}, TWO_CLIPS)["METEOR"]
    disjoint = caption_scores({"A": "green pyramid jumps", "B": "seven tall trees"}, TWO_CLIPS)["METEOR"]
    assert identical == pytest.approx(100.0)
    assert 0.0 < partial < identical
    assert disjoint == pytest.approx(0.0)
    assert "METEOR 1.5" in caption_metrics_implementation()
    assert "PTB tokenizer" in caption_metrics_implementation()


@needs_java
def test_ptb_tokenizer_lowercases_and_drops_punctuation() -> None:
    scores = caption_scores({"A": "A Red ball, rolls.", "B": "a blue cube spins!"}, TWO_CLIPS)
    assert scores["CIDEr"] == pytest.approx(1000.0, rel=1e-9)


def test_without_java_meteor_is_omitted_and_the_report_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(caption_metrics, "java_available", lambda: False)
    scores = caption_scores({"A": "A RED ball, rolls!", "B": "a blue cube spins"}, TWO_CLIPS)
    assert "METEOR" not in scores
    assert set(scores) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr"}
    assert scores["CIDEr"] == pytest.approx(1000.0, rel=1e-9)  # case and punctuation stripped
    implementation = caption_metrics_implementation()
    assert "METEOR skipped (java not found)" in implementation
    assert "simple tokenizer" in implementation
