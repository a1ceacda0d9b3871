"""Embedded-world speed: rendering clips, writing references, and the exact-fact judge's throughput.
Prints numbers; not a timed test.

    python benchmarks/bench_world.py [--clips 2000] [--captions 5000]

The design target is 2,000 clips (8 frames of 32x32) in under 10 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from synpo_bench.api.facts import ClipFacts
from synpo_bench.tasks.judges.exact import ExactFactJudge
from synpo_bench.tasks.world.clips import make_clips, sample_facts
from synpo_bench.tasks.world.references import REFERENCE_WRITERS, vatex_captions


def seconds(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def references(facts: list[ClipFacts]) -> list[tuple[str, ClipFacts, str]]:
    """(caption, facts, dimension) for every reference of every dimension of the clips."""
    return [
        (text, clip, dimension)
        for clip in facts
        for dimension, write in REFERENCE_WRITERS.items()
        for text in write(clip)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--captions", type=int, default=5000)
    args = parser.parse_args()
    judge = ExactFactJudge()

    render_s = seconds(lambda: make_clips("train", args.clips, seed=0))
    print(
        f"render  {args.clips} clips (8 x 32x32 RGB): {render_s:.2f} s ({args.clips / render_s:.0f} clips/s)"
    )

    facts = [sample_facts("test", index, 0) for index in range(200)]
    start = time.perf_counter()
    written = references(facts)
    write_s = time.perf_counter() - start
    print(f"write   {len(written)} references of {len(facts)} clips: {write_s:.2f} s")

    sample = (written * (args.captions // len(written) + 1))[: args.captions]
    grade_s = seconds(lambda: [judge.grade(text, clip, dimension) for text, clip, dimension in sample])
    print(f"grade   {len(sample)} captions: {grade_s:.2f} s ({len(sample) / grade_s:.0f} captions/s)")

    groups = [(vatex_captions(clip)[:8], clip) for clip in facts]
    rate_s = seconds(lambda: [judge.rate(captions, clip, "caption") for captions, clip in groups])
    rated = sum(len(captions) for captions, _ in groups)
    print(
        f"rate    {rated} captions, 8 candidates per clip: {rate_s:.2f} s ({rated / rate_s:.0f} captions/s)"
    )


if __name__ == "__main__":
    main()
