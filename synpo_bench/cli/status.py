"""``synpo-bench status RUN``: each cell of a run as done, failed, running, interrupted or pending.

The grid comes from the run's ``config.toml`` (its tasks, losses, seeds and --tune), so cells that never
started are listed as pending; the state of each from its folder and, for submitit runs, its job
(``synpo_bench/run/status.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from synpo_bench.api.errors import UserError
from synpo_bench.cli.config_file import CONFIG_FILE
from synpo_bench.cli.errors import console, user_errors
from synpo_bench.cli.parsing import parse_seeds, parse_tune, split_names, split_tasks
from synpo_bench.config import RunConfig

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

STYLES = {"done": "green", "failed": "red", "running": "cyan", "interrupted": "yellow", "pending": "dim"}


def status_command(
    run_dir: Annotated[Path, typer.Argument(help="A run folder, e.g. results/run-0123456789.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of the table.")] = False,
) -> None:
    """Which cells of a run are done, failed, running, interrupted (killed) or pending; with submitit
    jobs (--executor), each cell's job and its state."""
    with user_errors():
        if not run_dir.is_dir():
            raise UserError(f"{run_dir}: no such run folder")
        from synpo_bench.run.status import run_status  # the engine: not loaded for list, report or --help

        status = run_status(run_dir, grid_cells(run_dir))
    counts = status.counts()
    if as_json:
        payload: dict[str, Any] = {
            "run": str(run_dir),
            "executor": status.executor,
            "prepare": status.prepare,
            "counts": counts,
            "cells": [{"cell": c.name, "state": c.state, "detail": c.detail} for c in status.cells],
        }
        console.print_json(json.dumps(payload))
        return
    table = Table("cell", "state", "detail", title=escape(str(run_dir)), title_justify="left")
    for cell in status.cells:
        table.add_row(escape(cell.name), f"[{STYLES[cell.state]}]{cell.state}[/]", escape(cell.detail))
    console.print(table)
    if status.prepare is not None:
        line = f"prepare (warm start, pairs): {status.prepare} (executor: {status.executor})"
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    summary = "  ".join(f"{state} {count}" for state, count in counts.items())
    console.print(summary, highlight=False, soft_wrap=True)


def grid_cells(run_dir: Path) -> list[str] | None:
    """The names of the run's cells from its ``config.toml``; None without one (a run from before config
    files), or one that does not read: then only the cells found on disk are listed."""
    try:
        table = tomllib.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        tasks, _, _ = split_tasks(str(table["tasks"]))
        config = RunConfig(
            losses=split_names(str(table["losses"]), "--losses"),
            tasks=tasks,
            seeds=parse_seeds(str(table["seeds"])),
            tune=parse_tune([str(item) for item in table.get("tune", [])]),
        )
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, UserError):
        return None
    return [cell.name for cell in config.cells()]
