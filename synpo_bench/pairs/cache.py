"""The pair cache: a built pair set stored by content (the model, the data, the judge, every setting).

An entry is two files named by the key: ``<key>.jsonl`` (the pairs, the run's pair-file format) and
``<key>.json`` (the pair set's summary plus every prompt's gap), the summary written last so that its
presence marks the entry complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

import torch

from synpo_bench.api.io import Warn, content_hash, one_line, python_warning, read_json, write_json_atomic
from synpo_bench.api.judges import CandidateRater
from synpo_bench.api.models import Policy
from synpo_bench.api.tasks import CaptionExample, TaskData
from synpo_bench.models.warmstart import examples_hash, frames_hash
from synpo_bench.pairs.selection import PairSet
from synpo_bench.pairs.settings import PairSettings
from synpo_bench.tasks.data.pairs import read_pairs_jsonl, write_pairs_jsonl

PAIRS_VERSION = "1"


def weights_fingerprint(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def pair_cache_key(
    model: Policy,
    data: TaskData,
    examples: Sequence[CaptionExample],
    judge: CandidateRater,
    settings: PairSettings,
    seed: int,
) -> str:
    # A policy from the warm-start cache is keyed by that entry; any other by its weights.
    model_key = model.cache_key or weights_fingerprint(model)
    clips = sorted({e.clip_id for e in examples})
    return content_hash(
        {
            "version": PAIRS_VERSION,
            "model": model_key,
            "examples": examples_hash(examples),
            "frames": frames_hash(data.frames, clips),
            "facts": content_hash([repr(data.facts[clip]) for clip in clips], 16),
            # The judge by its name (kind, and model or path), not by where its class lives: moving code
            # must not invalidate every cached pair set.
            "judge": judge.name,
            "settings": dataclasses.asdict(settings),
            "seed": seed,
        },
        16,
    )


def load_cached(cache_dir: Path, key: str, warn: Warn = python_warning) -> PairSet | None:
    """The stored pair set of ``key``; None when there is none, or when it is damaged (a file truncated
    or edited outside the tool): then ``warn`` reports it in one line and the caller rebuilds it."""
    pairs_path, summary_path = cache_dir / f"{key}.jsonl", cache_dir / f"{key}.json"
    if not (pairs_path.is_file() and summary_path.is_file()):
        return None
    try:
        return _read_entry(pairs_path, summary_path, key)
    except (OSError, ValueError, KeyError, TypeError) as error:  # JSON, a missing field, a wrong type
        warn(f"pair cache entry {key} in {cache_dir} does not load ({one_line(error)}); building it again")
        return None


def _read_entry(pairs_path: Path, summary_path: Path, key: str) -> PairSet:
    pairs, skipped = read_pairs_jsonl(pairs_path)
    stored = read_json(summary_path)
    if skipped or len(pairs) != stored["kept"]:
        raise ValueError(f"{pairs_path} holds {len(pairs)} whole pair(s) of {stored['kept']}")
    return PairSet(
        pairs=pairs,
        n_prompts=int(stored["n_prompts"]),
        n_candidates=int(stored["n_candidates"]),
        threshold=float(stored["threshold"]),
        gaps=[float(g) for g in stored["all_gaps"]],
        kept_by_dimension=dict(stored["kept_by_dimension"]),
        prompts_by_dimension=dict(stored["prompts_by_dimension"]),
        seconds=float(stored["seconds"]),
        cached=True,
        key=key,
    )


def store_cached(cache_dir: Path, key: str, pair_set: PairSet) -> None:
    write_pairs_jsonl(cache_dir / f"{key}.jsonl", pair_set.pairs)
    # The summary is written last: it marks the entry complete.
    write_json_atomic(cache_dir / f"{key}.json", {**pair_set.summary(), "all_gaps": pair_set.gaps})
