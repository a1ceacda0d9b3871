"""How the command line speaks to the user: the consoles, and the one user-error printer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.text import Text

from synpo_bench.api.errors import UserError

console = Console()
errors = Console(stderr=True)


def styled_line(label: str, style: str, message: str) -> Text:
    """A styled label and a literal message: brackets in paths or values are never read as markup."""
    return Text.assemble((label, style), message)


@contextmanager
def user_errors() -> Iterator[None]:
    """A user mistake becomes one line on stderr and exit status 2, never a traceback."""
    try:
        yield
    except UserError as error:
        errors.print(styled_line("error: ", "bold red", str(error)), soft_wrap=True)
        raise typer.Exit(2) from None
