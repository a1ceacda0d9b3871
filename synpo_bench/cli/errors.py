"""How the command line speaks to the user: the consoles, and the one user-error printer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console, ConsoleDimensions
from rich.text import Text

from synpo_bench.api.errors import UserError
from synpo_bench.launch import is_main_launch_process
from synpo_bench.reports.layout import PAGE_COLUMNS


class _PageConsole(Console):
    """On a terminal, the terminal's width. Elsewhere (stdout piped into a file or a pager) rich would
    assume 80 columns and fold the report's tables: ``PAGE_COLUMNS``, unless COLUMNS says otherwise.
    Decided at each print, as rich decides, so COLUMNS set later still counts."""

    @property
    def size(self) -> ConsoleDimensions:
        found = super().size
        if self._width is None and not self.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
            return ConsoleDimensions(PAGE_COLUMNS, found.height)
        return found

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size  # as rich's own setter


console = _PageConsole()
errors = Console(stderr=True)


def styled_line(label: str, style: str, message: str) -> Text:
    """A styled label and a literal message: brackets in paths or values are never read as markup."""
    return Text.assemble((label, style), message)


@contextmanager
def user_errors() -> Iterator[None]:
    """A user mistake becomes one line on stderr and exit status 2, never a traceback; under a launch of
    several processes, which all meet it alike, the main process prints it."""
    try:
        yield
    except UserError as error:
        if is_main_launch_process():
            errors.print(styled_line("error: ", "bold red", str(error)), soft_wrap=True)
        raise typer.Exit(2) from None
