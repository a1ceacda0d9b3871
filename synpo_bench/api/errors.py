"""Errors that mean "the user asked for something impossible": the CLI prints them in one line, exit 2."""


class UserError(Exception):
    """Bad input from the user (a name, a path, a budget); the message says what and how to fix it."""
