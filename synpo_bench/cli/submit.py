"""``synpo-bench run --executor submitit-local|slurm``: the grid as submitit jobs, one line per job event.

Under submitit-local the command waits for every job and returns the cells' reports, which ``run``
summarises as it does an in-process run; on Slurm it returns None once the jobs are queued, after saying
how to follow them (``synpo-bench status RUN``).
"""

from __future__ import annotations

from collections.abc import Sequence

from synpo_bench.cli.errors import console
from synpo_bench.config import RunConfig
from synpo_bench.run.executor import submit_grid
from synpo_bench.run.observer import CellReport


def run_as_jobs(config: RunConfig, plugins: Sequence[str]) -> list[CellReport] | None:
    def notify(message: str) -> None:
        console.print(f"[dim]submitit[/dim] {message}", highlight=False, soft_wrap=True)

    reports = submit_grid(config, plugins, notify)
    if reports is None:
        console.print(
            f"queued on Slurm; follow it with: synpo-bench status {config.run_dir()}  "
            "(the same command again resubmits only the cells that are not finished)",
            highlight=False,
            soft_wrap=True,
        )
    return reports
