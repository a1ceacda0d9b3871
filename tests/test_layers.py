"""The house rules (docs/ARCHITECTURE.md), checked on the source tree: layers, circles, packaging, size.

Layers, lowest first; a module may import its own layer's folder and anything below it:
    api                       synpo_bench.api            (imports nothing else of the project)
    losses, tasks, reports    synpo_bench.{losses,tasks,reports}   (each: api and its own folder only)
    engine                    every other synpo_bench module but the CLI
    cli                       synpo_bench.cli, synpo_bench.__main__
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
    "synpo_bench": "synpo_bench",
    "losses": "synpo_bench.losses",
    "tasks": "synpo_bench.tasks",
    "reports": "synpo_bench.reports",
}
PLUGIN_ROOMS = ("synpo_bench.losses", "synpo_bench.tasks", "synpo_bench.reports")
MAX_LINES = 350
LONG_FILE_MARK = "Long file:"


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT)
    package = FOLDERS[relative.parts[0]]
    parts = [*package.split("."), *relative.parts[1:]]
    parts[-1] = parts[-1].removesuffix(".py")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {
        _module_name(path): path
        for folder in FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "nlp_data" not in path.parts
    }


def _imports(path: Path, module: str) -> set[str]:
    """Every project module ``module`` imports, at the top or inside a function."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in FOLDERS}


SOURCES = _sources()
GRAPH = {
    module: {target for target in _imports(path, module) if target in SOURCES}
    for module, path in SOURCES.items()
}


def _layer(module: str) -> str:
    if module == "synpo_bench" or module.startswith("synpo_bench.api"):
        return "api"
    for room in PLUGIN_ROOMS:
        if module == room or module.startswith(room + "."):
            return room
    if module.startswith(("synpo_bench.cli", "synpo_bench.__main__")):
        return "cli"
    return "engine"


def test_the_old_top_level_names_are_gone() -> None:
    """Every import names the installed package (``synpo_bench.tasks``), never a bare ``tasks``."""
    bare = {
        f"{module} imports {target}"
        for module, path in SOURCES.items()
        for target in _imports(path, module)
        if target.split(".")[0] in ("tasks", "losses", "reports")
    }
    assert not bare


def test_api_imports_nothing_above_it() -> None:
    bad = [f"{m} -> {t}" for m in GRAPH if _layer(m) == "api" for t in GRAPH[m] if _layer(t) != "api"]
    assert not bad


@pytest.mark.parametrize("room", PLUGIN_ROOMS)
def test_plugin_rooms_import_only_the_api_and_their_own_folder(room: str) -> None:
    bad = [
        f"{m} -> {t}" for m in GRAPH if _layer(m) == room for t in GRAPH[m] if _layer(t) not in ("api", room)
    ]
    assert not bad


def test_nothing_below_the_cli_imports_it() -> None:
    bad = [f"{m} -> {t}" for m in GRAPH if _layer(m) != "cli" for t in GRAPH[m] if _layer(t) == "cli"]
    assert not bad


def test_no_import_circle() -> None:
    """Depth-first search over the module graph (function-level imports included)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if _is_parent_package(target, module):
                continue  # importing a submodule runs its package's __init__ first; not a circle of ours
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert not circles, "\n".join(" -> ".join(circle) for circle in circles)


def _is_parent_package(target: str, module: str) -> bool:
    return module.startswith(target + ".")


def test_a_circle_is_detected() -> None:
    """The circle check can fail: a two-module circle written here is found by the same search."""
    graph = {"a": {"b"}, "b": {"a"}}
    assert _has_circle(graph) and not _has_circle({"a": {"b"}, "b": set()})


def _has_circle(graph: dict[str, set[str]]) -> bool:
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        state[node] = 1
        for target in graph[node]:
            if state.get(target) == 1 or (target not in state and visit(target)):
                return True
        state[node] = 2
        return False

    return any(visit(node) for node in graph if node not in state)


def test_importing_losses_tasks_and_reports_loads_no_engine() -> None:
    """The rooms plug-in authors use do not pull in the engine or the CLI at import time."""
    code = (
        "import sys, importlib, pkgutil\n"
        "import synpo_bench.losses, synpo_bench.tasks, synpo_bench.reports\n"
        "from synpo_bench.api.losses import list_losses\n"
        "from synpo_bench.api.tasks import list_tasks\n"
        "list_losses(); list_tasks()\n"
        "for pkg in (synpo_bench.tasks, synpo_bench.reports):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "engine = ('synpo_bench.run', 'synpo_bench.train', 'synpo_bench.cli', 'synpo_bench.pairs',\n"
        "          'synpo_bench.models', 'synpo_bench.config')\n"
        "print(sorted(m for m in sys.modules if m.startswith(engine)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_pyproject_lists_every_package_folder() -> None:
    """Packages are listed by hand (the folders install under synpo_bench.*): a new folder must be added."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    folders = {_module_name(init) for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")}
    assert listed == folders


def test_no_source_file_is_over_the_limit_without_a_reason() -> None:
    long = [
        f"{path.relative_to(ROOT)} ({n} lines)"
        for path in SOURCES.values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and LONG_FILE_MARK not in "".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:20])
    ]
    assert not long
