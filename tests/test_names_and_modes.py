"""Names that become folders stay plain names, and every file a run writes follows the user's umask."""

from __future__ import annotations

import os
import re
import stat
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from typer.testing import CliRunner

from synpo_bench.api.errors import UnsafeNameError, UserError, check_plain_name
from synpo_bench.api.io import write_json_atomic, write_text_atomic
from synpo_bench.api.losses import LOSSES
from synpo_bench.api.registry import Registry
from synpo_bench.api.tasks import get_task
from synpo_bench.cli import app
from synpo_bench.models import warm_start

runner = CliRunner()
CHEAP = ["--tasks", "textpref", "--losses", "dpo", "--size", "tiny", "--budget", "steps=1"]
"""Settings under which a run that is (wrongly) not refused ends within seconds."""


# ------------------------------------------------------------------------------- item 1: plain names


@pytest.mark.parametrize("run_id", ["../escaped", "{tmp}/absolute", "a/b", "..", ".", "a\\b"])
def test_a_run_id_that_leaves_out_is_refused_in_one_line(run_id: str, tmp_path: Path) -> None:
    run_id = run_id.format(tmp=tmp_path)
    args = ["run", *CHEAP, "--out", str(tmp_path / "results"), "--run-id", run_id]
    result = runner.invoke(app, [*args, "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2, result.output
    assert f"--run-id '{run_id}' names a folder, so it must be a plain name" in " ".join(
        result.output.split()
    )
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # refused before anything was written, in --out or beside it


@pytest.mark.parametrize(("option", "name"), [("--tasks", "../vdc"), ("--losses", "dpo/../../x")])
def test_task_and_loss_names_are_plain_names(option: str, name: str, tmp_path: Path) -> None:
    args = ["run", *CHEAP, option, name, "--out", str(tmp_path / "results"), "--cache-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"'{name}' names a folder, so it must be a plain name" in " ".join(result.output.split())


def test_the_plain_name_rule() -> None:
    for good in ("run-1", "my.run", "vdc", "a..b", "résumé"):
        assert check_plain_name("x", good) == good
    for bad in ("", ".", "..", "a/b", "/abs", "a\\b", "nul\0byte"):
        with pytest.raises(UnsafeNameError):
            check_plain_name("x", bad)
    assert issubclass(UnsafeNameError, UserError)


def test_a_registry_refuses_names_and_aliases_with_separators() -> None:
    registry: Registry[int] = Registry("thing", "things", "synpo_bench.losses", "no.such.group")
    with pytest.raises(UnsafeNameError, match=re.escape("thing name '../up'")):
        registry.add("../up", 1)
    with pytest.raises(UnsafeNameError, match="thing name 'a/b'"):
        registry.add("fine", 1, aliases=("a/b",))
    registry.add("fine", 1, aliases=("also_fine",))
    assert registry.get("also_fine") == 1


@pytest.fixture
def escaping_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "escaping_loss_plugin.py").write_text(
        textwrap.dedent(
            """
            from synpo_bench.api.losses import register_loss

            @register_loss("../../escaped", needs_reference=False, citation="a test")
            def escaped(stats):
                raise AssertionError("never trained")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "escaping_loss_plugin"
    sys.modules.pop("escaping_loss_plugin", None)
    LOSSES.remove("../../escaped")


def test_a_plugin_registering_a_path_is_one_line_exit_2(escaping_plugin: str, tmp_path: Path) -> None:
    args = ["run", *CHEAP, "--plugin", escaping_plugin, "--out", str(tmp_path), "--cache-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "loss name '../../escaped' names a folder" in " ".join(result.output.split())
    assert "Traceback" not in result.output


# ---------------------------------------------------------------------------------- item 2: the umask


@pytest.fixture(params=[0o022, 0o027])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    """Permission bits of ``root`` and everything under it, by relative path."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_atomic_writes_follow_the_umask(umask: int, tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "a" / "result.txt", "text\n")
    write_json_atomic(tmp_path / "a" / "result.json", {"x": 1})
    assert modes(tmp_path / "a") == {
        ".": 0o777 & ~umask,
        "result.txt": 0o666 & ~umask,
        "result.json": 0o666 & ~umask,
    }


def test_an_atomic_rewrite_follows_the_umask_too(umask: int, tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text("{}")
    path.chmod(0o600)
    write_json_atomic(path, {"x": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_warm_start_cache_entry_follows_the_umask(umask: int, tmp_path: Path) -> None:
    data = get_task("vdc")().load(None, seed=0, size="tiny")
    _, info = warm_start(data.train[:4], data.frames, cache_dir=tmp_path / "warmstart", steps=1, batch_size=2)
    found = modes(info.path)
    assert found["."] == 0o777 & ~umask  # the renamed temporary folder
    assert {name: mode for name, mode in found.items() if name != "."} == {
        name: (0o777 if (info.path / name).is_dir() else 0o666) & ~umask for name in found if name != "."
    }


def test_everything_a_run_writes_follows_the_umask(umask: int, tmp_path: Path) -> None:
    """Results and caches readable by a team (umask 022) or a group (027), as the user's other files."""
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = ["run", *CHEAP, "--warm-start-steps", "2", "--out", str(out), "--cache-dir", str(cache)]
    assert runner.invoke(app, args).exit_code == 0
    for root in (out, cache):
        wrong = {
            name: oct(mode)
            for name, mode in modes(root).items()
            if mode != (0o777 if (root / name).is_dir() else 0o666) & ~umask
        }
        assert wrong == {}, root
