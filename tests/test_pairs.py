"""Preference pairs: selection by score gap, a real run on the tiny world, caching, JSONL files."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from synpo_bench.api.errors import UserError
from synpo_bench.api.judges import FactGrade, Rating
from synpo_bench.api.tasks import CaptionExample, PreferencePair, TaskData, get_task
from synpo_bench.models import VideoLM, warm_start
from synpo_bench.pairs import (
    PairSettings,
    build_preference_pairs,
    judge_candidates,
    pair_from_ratings,
    select_pair,
)
from synpo_bench.tasks.data.pairs import PairsFileError, read_pairs_jsonl, write_pairs_jsonl
from synpo_bench.tasks.judges.exact import ExactFactJudge


def rating(h: float, f: float, c: float) -> Rating:
    combined = 1.1 * h + f + c
    return Rating(h, f, c, combined, combined / 13.5 * 10, FactGrade(1, 0, 0, 10.0))


# ------------------------------------------------------------------------------------ selection rules


def test_best_and_worst_are_chosen_and_rejected() -> None:
    selection = select_pair([5.0, 9.0, 9.0, 1.0, 1.0], threshold=4.0)
    assert (selection.best, selection.worst, selection.gap, selection.keep) == (1, 4, 8.0, True)


def test_a_gap_below_the_threshold_is_dropped_and_one_at_it_is_kept() -> None:
    assert not select_pair([6.0, 2.1], threshold=4.0).keep
    assert not select_pair([7.0, 7.0, 7.0], threshold=0.0).keep  # no pair without two distinct candidates
    # Combined scores 1.1 * 0 + 4 + 0.6 and 1.1 * 0 + 0 + 0.6: a gap of 4 exactly, but not in floats.
    high, low = 1.1 * 0 + 4 + 0.6, 1.1 * 0 + 0 + 0.6
    assert high - low < 4.0
    assert select_pair([high, low], threshold=4.0).keep


def test_a_kept_pair_carries_the_judge_scores_of_both_sides() -> None:
    example = CaptionExample("clip-1", "short", "describe the video briefly.", ("A red circle moves left.",))
    candidates = ["good", "fine", "bad"]
    ratings = [rating(5, 5, 3), rating(4, 4, 2), rating(1, 2, 0)]
    pair, gap = pair_from_ratings(example, candidates, ["sample", "sample", "contrastive"], ratings, 4.0)
    assert pair is not None
    assert (pair.chosen, pair.rejected) == ("good", "bad")
    assert gap == pytest.approx(13.5 - 3.1)
    assert pair.chosen_score == pytest.approx(13.5) and pair.rejected_score == pytest.approx(3.1)
    chosen, rejected = pair.scores["chosen"], pair.scores["rejected"]
    assert (chosen["H"], chosen["F"], chosen["C"], chosen["combined"]) == (5, 5, 3, pytest.approx(13.5))
    assert (rejected["H"], rejected["F"], rejected["C"]) == (1, 2, 0)
    assert rejected["score10"] == pytest.approx(3.1 / 13.5 * 10)
    assert (chosen["source"], rejected["source"]) == ("sample", "contrastive")
    assert pair.scores["dimension"] == "short"
    assert pair_from_ratings(example, candidates[:2], ["sample"] * 2, ratings[:2], 4.0)[0] is None


@pytest.fixture(scope="module")
def tiny_vdc() -> TaskData:
    return get_task("vdc")().load(None, seed=0, size="tiny")


def test_judging_real_captions_keeps_clear_wins_only(tiny_vdc: TaskData) -> None:
    """The exact judge on hand-written candidates: the reference beats gibberish; near-ties are dropped."""
    short = [e for e in tiny_vdc.train if e.dimension == "short"][:2]
    reference = short[0].references[0]
    candidates = [
        [reference, "the the the", reference],  # clear win
        [short[1].references[0]] * 3,  # identical candidates: no gap
    ]
    pair_set = judge_candidates(
        short,
        candidates,
        ["sample", "sample", "contrastive"],
        tiny_vdc,
        ExactFactJudge(),
        PairSettings(n_samples=3),
    )
    assert pair_set.kept == 1 and pair_set.n_prompts == 2 and pair_set.n_candidates == 6
    assert (pair_set.pairs[0].chosen, pair_set.pairs[0].rejected) == (reference, "the the the")
    assert pair_set.gaps[1] == 0.0 and pair_set.gaps[0] >= 4.0
    assert pair_set.kept_by_dimension == {"short": 1}


# ------------------------------------------------------------------------------------- a real small run


@pytest.fixture(scope="module")
def tiny_policy(tiny_vdc: TaskData, tmp_path_factory: pytest.TempPathFactory) -> VideoLM:
    examples = [e for e in tiny_vdc.train if e.dimension in ("camera", "background")]
    policy, _ = warm_start(
        examples, tiny_vdc.frames, cache_dir=tmp_path_factory.mktemp("warm"), steps=25, batch_size=16, lr=3e-3
    )
    return policy


def test_pairs_from_a_warm_started_model(tiny_policy: VideoLM, tiny_vdc: TaskData, tmp_path: Path) -> None:
    judge = ExactFactJudge()
    calls: list[tuple[str, int, int]] = []
    settings = {"n_samples": 3, "threshold": 2.0, "seed": 0, "dimensions": ("camera", "background")}
    pair_set = build_preference_pairs(
        tiny_policy, tiny_vdc, judge, **settings, cache_dir=tmp_path, progress=lambda *a: calls.append(a)
    )
    assert pair_set.n_prompts == 48 and pair_set.n_candidates == 3 * 48
    assert 0 < pair_set.kept <= pair_set.n_prompts
    assert ("sampling", 3, 3) in calls and ("judging", 48, 48) in calls
    for pair in pair_set.pairs:
        assert pair.scores["gap"] >= 2.0 - 1e-9
        assert pair.chosen_score - pair.rejected_score == pytest.approx(pair.scores["gap"])
        assert pair.chosen != pair.rejected and pair.clip_id in tiny_vdc.frames
        assert pair.scores["dimension"] in ("camera", "background")
    assert sum(gap >= 2.0 - 1e-9 for gap in pair_set.gaps) >= pair_set.kept
    summary = pair_set.summary()
    assert summary["kept"] == pair_set.kept
    assert summary["gaps"]["kept_min"] >= 2.0 - 1e-9
    assert summary["gaps"]["kept_max"] <= summary["gaps"]["all_max"]
    json.dumps(summary)
    # Same inputs: served from the cache, identical pairs.
    cached = build_preference_pairs(tiny_policy, tiny_vdc, judge, **settings, cache_dir=tmp_path)
    assert cached.cached and cached.pairs == pair_set.pairs and cached.gaps == pair_set.gaps
    # A different seed is a different cache entry, with different samples.
    other = build_preference_pairs(
        tiny_policy, tiny_vdc, judge, **{**settings, "seed": 1}, cache_dir=tmp_path
    )
    assert not other.cached and other.key != pair_set.key


def test_settings_are_validated(tiny_policy: VideoLM, tiny_vdc: TaskData) -> None:
    with pytest.raises(ValueError, match="n_samples"):
        build_preference_pairs(tiny_policy, tiny_vdc, ExactFactJudge(), n_samples=1)
    with pytest.raises(ValueError, match="no training prompt"):
        build_preference_pairs(tiny_policy, tiny_vdc, ExactFactJudge(), dimensions=("nonsense",))


# ------------------------------------------------------------------------------------------ JSON lines


def test_pairs_round_trip_through_jsonl(tmp_path: Path) -> None:
    pairs = [
        PreferencePair("c1", "p", "good", "bad", 12.5, 3.0, {"gap": 9.5, "chosen": {"H": 5.0}}),
        PreferencePair("c2", "p", "yes", "no", math.nan, 1.0, {}),
    ]
    path = tmp_path / "pairs.jsonl"
    write_pairs_jsonl(path, pairs)
    # The format is a contract (docs/CONTRACTS.md): sorted keys, NaN as null, one line per pair.
    assert path.read_text(encoding="utf-8").splitlines()[1] == (
        '{"chosen": "yes", "chosen_score": null, "clip_id": "c2", "prompt": "p", "rejected": "no", '
        '"rejected_score": 1.0, "scores": {}}'
    )
    loaded, skipped = read_pairs_jsonl(path)
    assert skipped == []
    assert loaded[0] == pairs[0]
    assert math.isnan(loaded[1].chosen_score) and loaded[1].rejected == "no"
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.jsonl"]  # no temporary file left


def test_malformed_lines_are_counted_and_named(tmp_path: Path) -> None:
    good = {"clip_id": "c", "prompt": "p", "chosen": "a", "rejected": "b"}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({**good, "clip_id": " "}),
        "",
        json.dumps({**good, "rejected": "a"}),
        json.dumps({**good, "chosen_score": "high"}),
        json.dumps({**good, "scores": [1]}),
        json.dumps({**good, "clip_id": "d", "chosen_score": 3, "rejected_score": None}),
        json.dumps({**good, "clip_id": "e", "rejected": ""}),  # a model that said nothing: a valid reject
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    pairs, skipped = read_pairs_jsonl(path)
    assert [p.clip_id for p in pairs] == ["c", "d", "e"]
    assert pairs[1].chosen_score == 3.0 and math.isnan(pairs[1].rejected_score)
    assert [message.split(":")[1] for message in skipped] == ["2", "3", "4", "6", "7", "8"]
    assert "invalid JSON" in skipped[0] and "'clip_id' is empty" in skipped[2] and "same text" in skipped[3]
    assert all(message.startswith(str(path)) for message in skipped)


def test_an_unreadable_pair_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(PairsFileError, match="does not exist"):
        read_pairs_jsonl(tmp_path / "nowhere.jsonl")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"clip_id": "caf\xe9"}\n')
    with pytest.raises(PairsFileError, match=r"cannot read preference file .*latin\.jsonl") as caught:
        read_pairs_jsonl(latin)
    assert isinstance(caught.value, UserError)
