"""The ``synpo-bench`` command line: run, report, check, list.

run.py       the run command (options -> RunConfig -> validation -> the grid -> the summary)
parsing.py   option text -> settings
progress.py  the progress display (RunObserver on rich)
report.py    the report and check commands
status.py    the status command (each cell of a run: done, failed, running, interrupted, pending)
submit.py    the run command's submitit executors (--executor submitit-local or slurm)
baseline.py  the baseline command (a noise baseline for check)
listing.py   the list command
errors.py    the consoles and the one user-error printer (one line, exit 2)
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from synpo_bench import __version__
from synpo_bench.cli.baseline import baseline_command
from synpo_bench.cli.errors import console
from synpo_bench.cli.listing import list_command
from synpo_bench.cli.report import check_command, report_command
from synpo_bench.cli.run import run_command
from synpo_bench.cli.status import status_command

app = typer.Typer(
    name="synpo-bench",
    help="Which preference loss should I use, and what does it cost? Trains the same model on the same data "
    "under the same budget once per loss, evaluates each on the same tasks, and reports quality beside cost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        console.print(f"synpo-bench {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Compare preference-optimisation losses (DPO, IPO, SimPO, ORPO, SynPO, ...) on equal budgets."""


app.command("list")(list_command)
app.command("run")(run_command)
app.command("status")(status_command)
app.command("report")(report_command)
app.command("check")(check_command)
app.command("baseline")(baseline_command)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
