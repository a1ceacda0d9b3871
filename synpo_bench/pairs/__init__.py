"""Preference pairs by the SynPO recipe: sample candidates from the warm start, judge them, keep clear wins.

For every training prompt (a clip and a caption dimension):
1. candidates (``sampling``): ``n_samples - n_contrastive`` temperature samples, plus ``n_contrastive``
   visual-contrastive ("retrospective") samples that penalise what the model would say without looking at
   the frames;
2. the judge's ``rate`` scores them together (``selection``): hallucination H (0-5), fluency F (0-5),
   consistency with the other candidates C (0-3), ``combined = 1.1 H + F + C``;
3. best = chosen, worst = rejected; the pair is kept only if ``combined(best) - combined(worst) >=
   threshold`` (default 4.0 on the combined scale, as the authors' code applies it).

A built pair set can be cached by content (``cache``: the warm start's key, the data, the judge and every
setting), written atomically. Pair files are read and written by ``synpo_bench.tasks.data.pairs``.
"""

from synpo_bench.pairs.build import build_preference_pairs
from synpo_bench.pairs.cache import PAIRS_VERSION, pair_cache_key, weights_fingerprint
from synpo_bench.pairs.sampling import caption_token_budget, sample_candidates
from synpo_bench.pairs.selection import (
    THRESHOLD_TOLERANCE,
    PairSet,
    Selection,
    judge_candidates,
    pair_from_ratings,
    rating_dict,
    select_pair,
)
from synpo_bench.pairs.settings import PairSettings, Progress

__all__ = [
    "PAIRS_VERSION",
    "THRESHOLD_TOLERANCE",
    "PairSet",
    "PairSettings",
    "Progress",
    "Selection",
    "build_preference_pairs",
    "caption_token_budget",
    "judge_candidates",
    "pair_cache_key",
    "pair_from_ratings",
    "rating_dict",
    "sample_candidates",
    "select_pair",
    "weights_fingerprint",
]
