"""How long `synpo-bench report` takes as a run grows to every registered loss: the paired comparisons,
the rest of the report, and the files it writes. Prints numbers; not a timed test.

    python benchmarks/bench_report.py RUN_DIR [--losses 14]

RUN_DIR is any finished run (e.g. `.ci-gate/results/seeds` after `make ci-gate`: 3 losses x 4 seeds).
A copy of it in a temporary folder gets more losses by cloning its first loss's cells under the other
registered names (``"loss"`` rewritten in each cell's files), so every task has ``--losses`` losses on
the run's seeds; the clones score exactly what their original scored, which costs the statistics the
same as different scores would.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from synpo_bench.api.losses import list_losses
from synpo_bench.reports.paired import paired_comparisons
from synpo_bench.reports.reading import load_results
from synpo_bench.reports.render import FORMATS, render
from synpo_bench.reports.report import build_report

CELL_FILES = ("result.json", "manifest.json")


def grow(run: Path, target: int) -> int:
    """Clone the first loss of every task in ``run`` until the task has ``target`` losses; the count."""
    counts = []
    for task in sorted(p for p in run.iterdir() if p.is_dir()):
        present = sorted(p.name for p in task.iterdir() if p.is_dir())
        if not present:
            continue
        source = task / present[0]
        for name in [n for n in list_losses() if n not in present][: max(0, target - len(present))]:
            shutil.copytree(source, task / name)
            for path in (task / name).glob("seed*/*"):
                if path.name in CELL_FILES:
                    record = json.loads(path.read_text())
                    record["loss"] = name
                    path.write_text(json.dumps(record))
        counts.append(len([p for p in task.iterdir() if p.is_dir()]))
    return min(counts, default=0)


T = TypeVar("T")


def timed(label: str, action: Callable[[], T]) -> T:
    start = time.perf_counter()
    value = action()
    print(f"  {label:<36} {time.perf_counter() - start:6.2f} s")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--losses", type=int, default=len(list_losses()))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / args.run.name
        shutil.copytree(args.run, run, ignore=shutil.ignore_patterns("report.*", "plots"))
        losses = grow(run, args.losses)
        results = load_results(run)
        seeds = sorted({int(s) for s in results.done()["seed"]})
        print(f"{losses} losses x {len(seeds)} seeds, tasks {', '.join(results.tasks())}")
        paired = timed("paired comparisons", lambda: paired_comparisons(results))
        report = timed(f"whole report ({len(paired.frame)} comparisons)", lambda: build_report(results))
        for name in FORMATS:
            timed(f"render {name}", lambda name=name: render(report, name))


if __name__ == "__main__":
    main()
