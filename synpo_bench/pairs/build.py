"""``build_preference_pairs``: the whole SynPO pair recipe for one task, served from the cache if built."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from synpo_bench.api.io import Warn, python_warning
from synpo_bench.api.judges import CandidateRater
from synpo_bench.api.models import Policy
from synpo_bench.api.tasks import TaskData
from synpo_bench.pairs.cache import load_cached, pair_cache_key, store_cached
from synpo_bench.pairs.sampling import sample_candidates
from synpo_bench.pairs.selection import PairSet, judge_candidates
from synpo_bench.pairs.settings import PairSettings, Progress


def build_preference_pairs(
    model: Policy,
    data: TaskData,
    judge: CandidateRater,
    *,
    n_samples: int = 4,
    threshold: float = 4.0,
    seed: int = 0,
    dimensions: Sequence[str] | None = None,
    progress: Progress | None = None,
    n_contrastive: int = 1,
    temperature: float = 1.0,
    top_k: int | None = None,
    contrastive_alpha: float = 1.0,
    max_new_tokens: int | None = None,
    batch_size: int = 256,
    cache_dir: Path | None = None,
    warn: Warn = python_warning,
) -> PairSet:
    """Sample, judge and select preference pairs for ``data.train`` (see the package docstring).

    ``dimensions`` restricts the prompts to some caption dimensions. ``cache_dir`` reuses a pair set built
    before from the same model, data, judge and settings; a damaged entry is reported through ``warn``
    (one line) and built again.
    """
    settings = PairSettings(
        n_samples, n_contrastive, temperature, top_k, contrastive_alpha, threshold, max_new_tokens, batch_size
    )
    settings.validate()
    examples = [e for e in data.train if dimensions is None or e.dimension in set(dimensions)]
    if not examples:
        raise ValueError(f"task '{data.task}': no training prompt of dimensions {list(dimensions or [])}")
    missing = sorted({e.clip_id for e in examples} - set(data.facts))
    if missing:
        raise ValueError(
            f"task '{data.task}': the judge needs ground-truth facts and clip '{missing[0]}' has none "
            f"({len(missing)} clip(s) without facts); give preference pairs from a file instead"
        )
    key = pair_cache_key(model, data, examples, judge, settings, seed) if cache_dir is not None else None
    if key is not None and cache_dir is not None:
        cached = load_cached(Path(cache_dir), key, warn)
        if cached is not None:
            return cached
    start = time.perf_counter()
    candidates, sources = sample_candidates(model, data, examples, settings, seed, progress)
    pair_set = judge_candidates(examples, candidates, sources, data, judge, settings, progress)
    pair_set.seconds = time.perf_counter() - start
    pair_set.key = key
    if key is not None and cache_dir is not None:
        store_cached(Path(cache_dir), key, pair_set)
    return pair_set
