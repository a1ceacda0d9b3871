"""Name -> entry registries, filled by importing a package's modules (and entry points).

The loss registry (``api.losses``), the task registry (``api.tasks``) and the judge registry
(``api.judges``) are instances of ``Registry``. Adding a loss, task or judge is adding one module to its
folder; the folder's top-level modules are imported on first use, so no other file needs an edit.
Third-party plug-ins register the same way, loaded by import path (``import_plugins(["mypkg.my_loss"])``,
``--plugin`` on the CLI) or through the entry-point groups ``synpo_bench.losses`` / ``synpo_bench.tasks``
/ ``synpo_bench.judges``.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from synpo_bench.api.errors import UserError, check_plain_name

T = TypeVar("T")


class UnknownNameError(KeyError, UserError):
    """A loss, task or parameter name that is not registered; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """A name -> entry table filled by importing every module of a package (and entry points)."""

    def __init__(self, kind: str, plural: str, package: str, entry_point_group: str) -> None:
        self.kind = kind
        self.plural = plural
        self._package = package
        self._group = entry_point_group
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._discovered = False
        # Held through discovery: another thread's first lookup waits for the table to be full. Re-entrant,
        # so a module that looks an entry up while it is imported (the flag is already set) does not block.
        self._discovering = threading.RLock()

    def add(self, name: str, entry: T, aliases: Iterable[str] = ()) -> None:
        aliases = tuple(aliases)
        # Task and loss names (aliases too, as typed) become result folders: <run>/<task>/<loss>/.
        for label in (name, *aliases):
            check_plain_name(f"{self.kind} name", label)
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = entry
        for alias in aliases:
            self._aliases[alias] = name

    def remove(self, name: str) -> None:
        """Forget ``name`` and its aliases (plug-ins loaded for one test, for example)."""
        self._entries.pop(name, None)
        self._aliases = {alias: target for alias, target in self._aliases.items() if target != name}

    def aliases_of(self, name: str) -> list[str]:
        return sorted(alias for alias, target in self._aliases.items() if target == name)

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def get(self, name: str) -> T:
        self._discover()
        canonical = self._aliases.get(name, name)
        if canonical not in self._entries:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'; valid {self.plural}: {', '.join(self.names())}"
            )
        return self._entries[canonical]

    def _discover(self) -> None:
        with self._discovering:
            if self._discovered:
                return
            self._discovered = True
            package = importlib.import_module(self._package)
            # Only the folder's own modules are entries; sub-packages (helpers, data) and _private modules
            # are not, so discovery never imports more than the entries themselves.
            for module in pkgutil.iter_modules(package.__path__):
                if not module.name.startswith("_") and not module.ispkg:
                    importlib.import_module(f"{self._package}.{module.name}")
            for entry in entry_points(group=self._group):
                importlib.import_module(entry.value.split(":")[0])


class PluginError(ValueError, UserError):
    """A plug-in module that cannot be imported."""


def import_plugins(modules: Iterable[str]) -> None:
    """Import plug-in modules by dotted path; importing them registers their losses and tasks."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise PluginError(f"cannot import plug-in module '{module}': {error}") from error
