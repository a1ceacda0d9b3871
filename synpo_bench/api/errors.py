"""Errors that mean "the user asked for something impossible": the CLI prints them in one line, exit 2."""


class UserError(Exception):
    """Bad input from the user (a name, a path, a budget); the message says what and how to fix it."""


class UnsafeNameError(ValueError, UserError):
    """A name that becomes a folder (a run id, task, loss or plug-in name) but is not a plain name."""


def check_plain_name(what: str, name: str) -> str:
    """``name`` unchanged if it can only ever name one folder inside its parent; else ``UnsafeNameError``.

    A separator, ``.``/``..`` or an absolute path would put results (or a plug-in's folder) somewhere
    else than under ``--out``.
    """
    if name in ("", ".", "..") or any(char in name for char in "/\\\0"):
        raise UnsafeNameError(
            f"{what} '{name}' names a folder, so it must be a plain name: no '/' or '\\', not '.' or '..'"
        )
    return name
