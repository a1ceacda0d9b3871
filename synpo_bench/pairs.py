"""Preference pairs by the SynPO recipe: sample candidates from the warm start, judge them, keep clear wins.

For every training prompt (a clip and a caption dimension):
1. candidates: ``n_samples - n_contrastive`` temperature samples, plus ``n_contrastive`` visual-contrastive
   ("retrospective") samples that penalise what the model would say without looking at the frames;
2. the judge's ``rate`` scores them together: hallucination H (0-5), fluency F (0-5), consistency with the
   other candidates C (0-3), ``combined = 1.1 H + F + C``;
3. best = chosen, worst = rejected; the pair is kept only if ``combined(best) - combined(worst) >=
   threshold`` (default 4.0 on the combined scale, as the authors' code applies it).

Pair files are JSON lines; a built pair set can be cached by content (the warm start's key, the data, the
judge and every setting), written atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

import torch

from synpo_bench.api.io import content_hash, read_json, write_json_atomic, write_text_atomic
from synpo_bench.api.tasks import CaptionExample, PreferencePair, TaskData

PAIRS_VERSION = "1"
THRESHOLD_TOLERANCE = 1e-9
"""Combined scores are sums of floats (1.1 H): a gap of exactly the threshold must not fail by rounding."""

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages: "sampling", "judging"."""


@dataclass(frozen=True)
class PairSettings:
    n_samples: int = 4
    """Candidates per prompt, the contrastive ones included."""
    n_contrastive: int = 1
    temperature: float = 1.0
    top_k: int | None = None
    contrastive_alpha: float = 1.0
    threshold: float = 4.0
    max_new_tokens: int | None = None
    """None: the longest reference of the examples (in tokens) plus a margin."""
    batch_size: int = 256

    def validate(self) -> None:
        if self.n_samples < 2:
            raise ValueError(f"n_samples must be at least 2 to form a pair, got {self.n_samples}")
        if not 0 <= self.n_contrastive <= self.n_samples:
            raise ValueError(
                f"n_contrastive must lie in [0, n_samples={self.n_samples}], got {self.n_contrastive}"
            )
        if self.n_contrastive and self.contrastive_alpha <= 0:
            raise ValueError("contrastive candidates need contrastive_alpha > 0")


@dataclass
class PairSet:
    pairs: list[PreferencePair]
    n_prompts: int
    n_candidates: int
    threshold: float
    gaps: list[float]
    """The best-worst combined gap of every prompt, kept or not (prompt order)."""
    kept_by_dimension: dict[str, int] = field(default_factory=dict)
    prompts_by_dimension: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False
    key: str | None = None

    @property
    def kept(self) -> int:
        return len(self.pairs)

    def gap_summary(self) -> dict[str, float | None]:
        """Mean/min/max combined gap over the kept pairs and over all prompts."""
        kept = [float(pair.scores.get("gap", pair.chosen_score - pair.rejected_score)) for pair in self.pairs]
        return {
            "kept_mean": fmean(kept) if kept else None,
            "kept_min": min(kept) if kept else None,
            "kept_max": max(kept) if kept else None,
            "all_mean": fmean(self.gaps) if self.gaps else None,
            "all_min": min(self.gaps) if self.gaps else None,
            "all_max": max(self.gaps) if self.gaps else None,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "n_prompts": self.n_prompts,
            "n_candidates": self.n_candidates,
            "threshold": self.threshold,
            "gaps": self.gap_summary(),
            "kept_by_dimension": dict(self.kept_by_dimension),
            "prompts_by_dimension": dict(self.prompts_by_dimension),
            "seconds": self.seconds,
            "cached": self.cached,
            "key": self.key,
        }


# ------------------------------------------------------------------------------------------ selection


@dataclass(frozen=True)
class Selection:
    best: int
    worst: int
    gap: float
    keep: bool


def select_pair(combined: Sequence[float], threshold: float) -> Selection:
    """Best (first of the highest) and worst (last of the lowest) candidate; kept when the gap reaches
    the threshold."""
    if len(combined) < 2:
        raise ValueError("a pair needs at least two rated candidates")
    best = max(range(len(combined)), key=lambda i: (combined[i], -i))
    worst = min(range(len(combined)), key=lambda i: (combined[i], -i))
    gap = float(combined[best] - combined[worst])
    # A zero gap is no preference, whatever the threshold.
    return Selection(best, worst, gap, gap > 0 and gap >= threshold - THRESHOLD_TOLERANCE)


def rating_dict(rating: Any) -> dict[str, float]:
    """The judge's scores of one candidate (H, F, C, combined, score10 and any fact counts)."""
    if hasattr(rating, "as_dict"):
        return {key: float(value) for key, value in rating.as_dict().items()}
    return {
        "H": float(rating.hallucination),
        "F": float(rating.fluency),
        "C": float(rating.consistency),
        "combined": float(rating.combined),
        "score10": float(rating.score10),
    }


def pair_from_ratings(
    example: CaptionExample,
    candidates: Sequence[str],
    sources: Sequence[str],
    ratings: Sequence[Any],
    threshold: float,
) -> tuple[PreferencePair | None, float]:
    """The kept pair of one prompt (or None) and its best-worst gap."""
    selection = select_pair([float(r.combined) for r in ratings], threshold)
    if not selection.keep:
        return None, selection.gap
    chosen, rejected = ratings[selection.best], ratings[selection.worst]
    scores = {
        "dimension": example.dimension,
        "gap": selection.gap,
        "n_candidates": len(candidates),
        "chosen": {**rating_dict(chosen), "source": sources[selection.best]},
        "rejected": {**rating_dict(rejected), "source": sources[selection.worst]},
    }
    pair = PreferencePair(
        clip_id=example.clip_id,
        prompt=example.prompt,
        chosen=candidates[selection.best],
        rejected=candidates[selection.worst],
        chosen_score=float(chosen.combined),
        rejected_score=float(rejected.combined),
        scores=scores,
    )
    return pair, selection.gap


# ------------------------------------------------------------------------------------------- building


def build_preference_pairs(
    model: Any,
    data: TaskData,
    judge: Any,
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
) -> PairSet:
    """Sample, judge and select preference pairs for ``data.train`` (see the module docstring).

    ``dimensions`` restricts the prompts to some caption dimensions. ``cache_dir`` reuses a pair set built
    before from the same model, data, judge and settings.
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
        cached = _load_cached(Path(cache_dir), key)
        if cached is not None:
            return cached
    start = time.perf_counter()
    candidates, sources = sample_candidates(model, data, examples, settings, seed, progress)
    pair_set = judge_candidates(examples, candidates, sources, data, judge, settings, progress)
    pair_set.seconds = time.perf_counter() - start
    pair_set.key = key
    if key is not None and cache_dir is not None:
        _store_cached(Path(cache_dir), key, pair_set)
    return pair_set


def sample_candidates(
    model: Any,
    data: TaskData,
    examples: Sequence[CaptionExample],
    settings: PairSettings,
    seed: int,
    progress: Progress | None = None,
) -> tuple[list[list[str]], list[str]]:
    """``n_samples`` candidates per example (samples first, then contrastive ones) and their sources."""
    # Generate dimension by dimension: rows of a batch then stop at similar lengths.
    order = sorted(range(len(examples)), key=lambda i: (examples[i].dimension, i))
    frames = [data.frames[examples[i].clip_id] for i in order]
    prompts = [examples[i].prompt for i in order]
    max_new_tokens = settings.max_new_tokens or caption_token_budget(model.tokenizer, examples)
    generator = torch.Generator().manual_seed(seed)
    n_plain = settings.n_samples - settings.n_contrastive
    sources = ["sample"] * n_plain + ["contrastive"] * settings.n_contrastive
    candidates: list[list[str]] = [[] for _ in examples]
    for number, source in enumerate(sources):
        texts = model.generate(
            frames,
            prompts,
            do_sample=True,
            temperature=settings.temperature,
            top_k=settings.top_k,
            max_new_tokens=max_new_tokens,
            contrastive_alpha=settings.contrastive_alpha if source == "contrastive" else 0.0,
            generator=generator,
            batch_size=settings.batch_size,
        )
        for position, text in zip(order, texts, strict=True):
            candidates[position].append(text)
        if progress is not None:
            progress("sampling", number + 1, len(sources))
    return candidates, sources


def caption_token_budget(
    tokenizer: Any, examples: Sequence[CaptionExample], *, cap: int | None = None
) -> int:
    """The longest reference of ``examples`` in the tokenizer's tokens, plus room for the EOS and a little
    rambling (which the judge then sees); at most ``cap``. 48 when the examples carry no reference."""
    references = [reference for example in examples for reference in example.references]
    if not references:
        return 48
    budget = max(map(len, tokenizer(references, add_special_tokens=False)["input_ids"])) + 8
    return budget if cap is None else min(cap, budget)


def judge_candidates(
    examples: Sequence[CaptionExample],
    candidates: Sequence[Sequence[str]],
    sources: Sequence[str],
    data: TaskData,
    judge: Any,
    settings: PairSettings,
    progress: Progress | None = None,
) -> PairSet:
    pairs: list[PreferencePair] = []
    gaps: list[float] = []
    for number, (example, texts) in enumerate(zip(examples, candidates, strict=True)):
        ratings = judge.rate(list(texts), data.facts[example.clip_id], example.dimension)
        pair, gap = pair_from_ratings(example, texts, sources, ratings, settings.threshold)
        gaps.append(gap)
        if pair is not None:
            pairs.append(pair)
        if progress is not None and ((number + 1) % 256 == 0 or number + 1 == len(examples)):
            progress("judging", number + 1, len(examples))
    return PairSet(
        pairs=pairs,
        n_prompts=len(examples),
        n_candidates=sum(map(len, candidates)),
        threshold=settings.threshold,
        gaps=gaps,
        kept_by_dimension=dict(Counter(str(pair.scores["dimension"]) for pair in pairs)),
        prompts_by_dimension=dict(Counter(example.dimension for example in examples)),
    )


# --------------------------------------------------------------------------------------------- caching


def weights_fingerprint(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def pair_cache_key(
    model: Any,
    data: TaskData,
    examples: Sequence[CaptionExample],
    judge: Any,
    settings: PairSettings,
    seed: int,
) -> str:
    from synpo_bench.models.warmstart import examples_hash, frames_hash

    model_key = getattr(model, "cache_key", None) or weights_fingerprint(model)
    clips = sorted({e.clip_id for e in examples})
    return content_hash(
        {
            "version": PAIRS_VERSION,
            "model": model_key,
            "examples": examples_hash(examples),
            "frames": frames_hash(data.frames, clips),
            "facts": content_hash([repr(data.facts[clip]) for clip in clips], 16),
            "judge": [type(judge).__module__, type(judge).__qualname__, getattr(judge, "name", "")],
            "settings": dataclasses.asdict(settings),
            "seed": seed,
        },
        16,
    )


def _load_cached(cache_dir: Path, key: str) -> PairSet | None:
    pairs_path, summary_path = cache_dir / f"{key}.jsonl", cache_dir / f"{key}.json"
    if not (pairs_path.is_file() and summary_path.is_file()):
        return None
    pairs, skipped = read_pairs_jsonl(pairs_path)
    stored = read_json(summary_path)
    if skipped or len(pairs) != stored.get("kept"):
        return None  # damaged entry: rebuild it
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


def _store_cached(cache_dir: Path, key: str, pair_set: PairSet) -> None:
    write_pairs_jsonl(cache_dir / f"{key}.jsonl", pair_set.pairs)
    # The summary is written last: it marks the entry complete.
    write_json_atomic(cache_dir / f"{key}.json", {**pair_set.summary(), "all_gaps": pair_set.gaps})


# ------------------------------------------------------------------------------------------ JSON lines

REQUIRED_TEXT_FIELDS = ("clip_id", "prompt", "chosen", "rejected")


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def pair_to_json(pair: PreferencePair) -> str:
    record = {
        "clip_id": pair.clip_id,
        "prompt": pair.prompt,
        "chosen": pair.chosen,
        "rejected": pair.rejected,
        "chosen_score": pair.chosen_score,
        "rejected_score": pair.rejected_score,
        "scores": dict(pair.scores),
    }
    return json.dumps(_finite_or_none(record), ensure_ascii=False, allow_nan=False, sort_keys=True)


def write_pairs_jsonl(path: Path, pairs: Sequence[PreferencePair]) -> None:
    """One JSON object per pair (clip id, prompt, chosen, rejected, scores), written atomically."""
    write_text_atomic(Path(path), "".join(pair_to_json(pair) + "\n" for pair in pairs))


def parse_pair(record: Any) -> PreferencePair:
    """A pair from one decoded JSON line; ``ValueError`` says what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    texts = {}
    for name in REQUIRED_TEXT_FIELDS:
        value = record.get(name)
        if not isinstance(value, str):
            raise ValueError(f"field '{name}' is missing or not a string")
        # An empty response is a real (bad) caption, a model that stopped at once; an empty id is not.
        if name in ("clip_id", "prompt") and not value.strip():
            raise ValueError(f"field '{name}' is empty")
        texts[name] = value
    if texts["chosen"] == texts["rejected"]:
        raise ValueError("'chosen' and 'rejected' are the same text")
    numbers = {}
    for name in ("chosen_score", "rejected_score"):
        value = record.get(name)
        if value is None:
            numbers[name] = math.nan
        elif isinstance(value, int | float) and not isinstance(value, bool):
            numbers[name] = float(value)
        else:
            raise ValueError(f"field '{name}' must be a number or null")
    scores = record.get("scores", {})
    if not isinstance(scores, dict):
        raise ValueError("field 'scores' must be a JSON object")
    return PreferencePair(scores=scores, **texts, **numbers)


def read_pairs_jsonl(path: Path) -> tuple[list[PreferencePair], list[str]]:
    """The pairs of a JSON-lines file and one message per malformed line (``file:line: reason``).

    Blank lines are ignored; ``chosen_score`` / ``rejected_score`` may be absent (NaN).
    """
    path = Path(path)
    pairs: list[PreferencePair] = []
    skipped: list[str] = []
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                pairs.append(parse_pair(json.loads(line)))
            except json.JSONDecodeError as error:
                skipped.append(f"{path}:{number}: invalid JSON ({error.msg})")
            except ValueError as error:
                skipped.append(f"{path}:{number}: {error}")
    return pairs, skipped
