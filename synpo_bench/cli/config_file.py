"""``synpo-bench run --config FILE``: the run's options from a TOML (or YAML) file, flags overriding it.

The file holds options by their name (``batch-size`` or ``batch_size``, as ``--batch-size``). It becomes
the command's click ``default_map`` before any other option is read (``--config`` is eager), so click
itself lets a flag on the command line win over the file, and converts the file's values as it converts
typed text. Every run folder gets the options the run resolved to as ``config.toml``
(``write_resolved_config``); ``synpo-bench run --config results/<run>/config.toml`` replays the run.
"""

from __future__ import annotations

import difflib
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import tomli_w
import typer
import yaml

from synpo_bench.api.errors import UserError
from synpo_bench.api.io import write_text_atomic
from synpo_bench.cli.errors import user_errors

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

CONFIG_FILE = "config.toml"
"""The resolved options in every run folder."""
COMMA_LISTS = frozenset({"losses", "tasks", "seeds", "report_to"})
"""Options whose text is a comma list: the file may give a TOML list instead (``seeds = [0, 1]``)."""
NOT_RECORDED = frozenset(
    {"config_file", "shard", "rerun"}
    | {"executor", "slurm_partition", "slurm_option", "gpus_per_cell", "time_limit", "max_parallel"}
)
"""Left out of the resolved file: they say how this invocation went through the run (its slice, whether
finished cells train again, where its cells ran), not what the run is, so a replay runs the whole grid and
resumes it, in this process unless its own command line says otherwise."""
YAML_SUFFIXES = (".yaml", ".yml")


def load_config(ctx: typer.Context, _param: Any, path: Path | None) -> Path | None:
    """The eager ``--config`` callback: the file's options become the command's ``default_map``."""
    if path is None:
        return None
    with user_errors():
        if ctx.command.callback is None:
            raise UserError("--config: this command takes no options")
        options = read_config_file(path, _option_types(ctx.command.callback), _option_names(ctx))
    ctx.default_map = {**(ctx.default_map or {}), **options}
    return path


def read_config_file(
    path: Path, types_by_name: Mapping[str, Any], spelled: Mapping[str, str]
) -> dict[str, Any]:
    """``{option name: value as click takes it}``; ``UserError`` naming the file and the key on a key that is
    no option of the command or a value of the wrong type."""
    table = _parse(path)
    options: dict[str, Any] = {}
    for key, value in table.items():
        name = str(key).replace("-", "_")
        if name not in types_by_name or name == "config_file":
            near = difflib.get_close_matches(str(key), list(spelled.values()), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else " (see synpo-bench run --help)"
            raise UserError(f"{path}: '{key}' is not an option of synpo-bench run{hint}")
        options[name] = _checked(path, str(key), name, value, types_by_name[name])
    return options


def resolved_config(params: Mapping[str, Any], spelled: Mapping[str, str]) -> str:
    """The options a run resolved to (``ctx.params``), as TOML text a ``--config`` replays: by option name,
    unset (None) options left out (their default is None), paths as given."""
    table: dict[str, Any] = {}
    for name, option in spelled.items():  # in the command's order, as --help lists them
        value = params.get(name)
        if name not in NOT_RECORDED and value is not None:
            table[option] = _plain(value)
    header = "# The options of this run; replay it with: synpo-bench run --config THIS_FILE\n"
    return header + tomli_w.dumps(table)


def write_resolved_config(run_dir: Path, ctx: typer.Context) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / CONFIG_FILE, resolved_config(ctx.params, _option_names(ctx)))


def _parse(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"--config {path}: cannot read it ({error})") from None
    try:
        table = yaml.safe_load(text) if path.suffix.lower() in YAML_SUFFIXES else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        kind = "YAML" if path.suffix.lower() in YAML_SUFFIXES else "TOML"
        raise UserError(f"--config {path}: not valid {kind}: {' '.join(str(error).split())}") from None
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise UserError(f"--config {path}: expected option = value pairs, found a {type(table).__name__}")
    return table


def _checked(path: Path, key: str, name: str, value: Any, kind: Any) -> Any:
    """``value`` as click takes it for an option of type ``kind``, or a ``UserError`` naming the key."""

    def wrong(expected: str) -> UserError:
        return UserError(f"{path}: '{key}' must be {expected}, got {_describe(value)}")

    if kind is bool:
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if isinstance(value, bool):  # a bool is an int to Python, never an int or a text option here
        raise wrong(_expected(name, kind))
    if kind is int:
        if not isinstance(value, int):
            raise wrong("an integer")
        return value
    if kind is float:
        if not isinstance(value, int | float):
            raise wrong("a number")
        return float(value)
    if _is_list(kind):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise wrong("a string or a list of strings")
        return items
    if name in COMMA_LISTS:
        items = value if isinstance(value, list) else [value]
        allowed = str | int if name == "seeds" else str
        if not items or not all(isinstance(i, allowed) and not isinstance(i, bool) for i in items):
            raise wrong(_expected(name, kind))
        return ",".join(str(item) for item in items)
    if not isinstance(value, str):
        raise wrong(_expected(name, kind))
    return value


def _expected(name: str, kind: Any) -> str:
    if name in COMMA_LISTS:
        return 'a comma-separated string or a list (e.g. ["dpo", "synpo"])'
    return {int: "an integer", float: "a number", Path: "a path (a string)"}.get(kind, "a string")


def _describe(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return f"{names.get(type(value), 'a ' + type(value).__name__)} ({shown})"


def _is_list(kind: Any) -> bool:
    return typing.get_origin(kind) in (list, Sequence)


def _option_types(command: Callable[..., Any]) -> dict[str, Any]:
    """Each parameter of ``command`` -> its type, ``Annotated`` and ``| None`` taken off."""
    hints = typing.get_type_hints(command)
    return {name: _bare(kind) for name, kind in hints.items() if name not in ("return", "ctx")}


def _bare(kind: Any) -> Any:
    args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return kind


def _option_names(ctx: typer.Context) -> dict[str, str]:
    """Parameter name -> the option as written without its dashes (``batch_size`` -> ``batch-size``)."""
    return {
        param.name: param.opts[0].lstrip("-")
        for param in ctx.command.params
        if param.name and param.opts and param.opts[0].startswith("--")
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value
