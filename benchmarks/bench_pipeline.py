"""The embedded default's preparation: SFT warm start, preference-pair sampling and judging, peak memory.
Prints numbers; not a timed test. Uses a fresh temporary cache, so nothing is served from an earlier run.

    python benchmarks/bench_pipeline.py [--steps N] [--clips 500]

Design targets on 2 CPU cores: warm start under 2 minutes, pairs for 500 clips under 2 minutes, peak
memory under 2 GiB. ``--steps`` defaults to what ``synpo-bench run`` uses (see ``default_steps``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import tempfile
import time
from pathlib import Path

from synpo_bench.api.tasks import TaskData, get_task
from synpo_bench.models import VideoLM, warm_start
from synpo_bench.models.warmstart import DEFAULT_BATCH_SIZE, default_steps
from synpo_bench.pairs import build_preference_pairs
from synpo_bench.run.prepare import EMBEDDED_WORLD_TASKS
from synpo_bench.tasks.judges.exact import ExactFactJudge


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="SFT steps (default: the run's default)")
    parser.add_argument("--clips", type=int, default=500, help="training clips to build VDC pairs for")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    start = time.perf_counter()
    data = {name: get_task(name)().load(None, seed=0, size="default") for name in EMBEDDED_WORLD_TASKS}
    print(f"world (3 task views of 640 clips): {time.perf_counter() - start:.1f} s")

    examples = [example for name in EMBEDDED_WORLD_TASKS for example in data[name].train]
    vdc = data["vdc"]
    steps = args.steps or default_steps(len(examples), DEFAULT_BATCH_SIZE)
    with tempfile.TemporaryDirectory() as cache:
        policy, info = warm_start(examples, vdc.frames, cache_dir=Path(cache) / "warm", steps=steps)
        print(f"warm start: {info.steps} steps over {info.n_examples} examples in {info.train_seconds:.1f} s")
        print(f"  final SFT loss {info.final_loss:.3f}")
        print(f"  start model, VDC eval split: {start_accuracy(policy, vdc):.1f}% mean fact accuracy")

        clips = sorted({e.clip_id for e in vdc.train})[: args.clips]
        subset = dataclasses.replace(vdc, train=[e for e in vdc.train if e.clip_id in set(clips)])
        pair_set = build_preference_pairs(policy, subset, ExactFactJudge(), cache_dir=Path(cache) / "pairs")
    gaps = pair_set.gap_summary()
    print(
        f"pairs: {len(clips)} clips, {pair_set.n_prompts} prompts, {pair_set.n_candidates} candidates "
        f"in {pair_set.seconds:.1f} s; kept {pair_set.kept} (combined gap >= {pair_set.threshold:g}, "
        f"kept mean {gaps['kept_mean'] or 0:.2f}, all-prompt mean {gaps['all_mean'] or 0:.2f})"
    )
    print(f"peak memory (RSS): {peak_rss_mib():.0f} MiB")


def start_accuracy(policy: VideoLM, data: TaskData) -> float:
    """Mean VDC fact accuracy of greedy captions, as the run's ``(start)`` row reports it."""
    examples = data.eval
    captions = policy.generate([data.frames[e.clip_id] for e in examples], [e.prompt for e in examples])
    predictions = {(e.clip_id, e.dimension): c for e, c in zip(examples, captions, strict=True)}
    return get_task("vdc")().evaluate(predictions, data, ExactFactJudge())["mean_accuracy"]


if __name__ == "__main__":
    main()
