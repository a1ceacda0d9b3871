"""``synpo-bench list losses|tasks``: what is registered, with defaults, aliases and citations."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from synpo_bench.api.errors import UserError
from synpo_bench.api.tasks import TASKS, get_task, list_tasks
from synpo_bench.cli.errors import console, user_errors


def list_command(
    what: Annotated[str, typer.Argument(help="What to list: losses or tasks.", metavar="losses|tasks")],
) -> None:
    """List the registered losses (with defaults and citations) or tasks."""
    with user_errors():
        if what == "losses":
            console.print(_loss_table())
        elif what == "tasks":
            console.print(_task_table())
        else:
            raise UserError(f"cannot list '{what}'; choose one of: losses, tasks")


def _loss_table() -> Table:
    # Imported here: the loss modules import torch, which every other command can start without.
    from synpo_bench.api.losses import get_loss_spec, list_losses

    table = Table(title="Registered losses", show_lines=False)
    for column in ("name", "reference model", "defaults", "summary", "citation"):
        table.add_column(column, overflow="fold")
    for name in list_losses():
        spec = get_loss_spec(name)
        defaults = ", ".join(f"{k}={v:g}" for k, v in spec.defaults.items()) or "-"
        table.add_row(
            name, "needed" if spec.needs_reference else "free", defaults, spec.summary, spec.citation
        )
    return table


def _task_table() -> Table:
    table = Table(title="Registered tasks")
    for column in ("name", "aliases", "metrics", "description"):
        table.add_column(column, overflow="fold")
    for name in list_tasks():
        adapter = get_task(name)
        table.add_row(
            name,
            ", ".join(TASKS.aliases_of(name)) or "-",
            ", ".join(adapter.metrics),
            adapter.description,
        )
    return table
