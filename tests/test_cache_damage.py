"""A cache entry damaged outside the tool is reported in one line and rebuilt: never reused, never fatal."""

from __future__ import annotations

import errno
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from typer.testing import CliRunner

from synpo_bench.api.tasks import PreferencePair, TaskData, get_task
from synpo_bench.cli import app
from synpo_bench.models import warm_start
from synpo_bench.models.video_lm import VideoLM
from synpo_bench.pairs.cache import load_cached, store_cached
from synpo_bench.pairs.selection import PairSet

runner = CliRunner()


def truncate(path: Path, keep: int = 100) -> None:
    """What an interrupted copy or a full disk leaves: the file's first bytes."""
    path.write_bytes(path.read_bytes()[:keep])


@pytest.fixture(scope="module")
def tiny_world() -> TaskData:
    return get_task("vdc")().load(None, seed=0, size="tiny")


@pytest.mark.parametrize("damaged", ["lm/model.safetensors", "vision.pt", "warmstart.json", "tokenizer"])
def test_a_damaged_warm_start_entry_is_reported_and_trained_again(
    damaged: str, tiny_world: TaskData, tmp_path: Path
) -> None:
    settings = {"cache_dir": tmp_path, "steps": 2, "batch_size": 4, "seed": 0}
    first, info = warm_start(tiny_world.train[:8], tiny_world.frames, **settings)
    if damaged == "tokenizer":
        truncate(info.path / "tokenizer" / "tokenizer.json", keep=10)
    else:
        truncate(info.path / damaged)
    messages: list[str] = []
    second, again = warm_start(tiny_world.train[:8], tiny_world.frames, **settings, warn=messages.append)
    assert len(messages) == 1 and "\n" not in messages[0], messages
    assert f"warm-start cache entry {info.path} does not load (" in messages[0]
    assert messages[0].endswith("training it again")
    assert not again.cached  # rebuilt, not reused
    first_state, second_state = first.state_dict(), second.state_dict()
    assert all(torch.equal(first_state[name], second_state[name]) for name in first_state)
    # The rebuilt entry replaced the damaged one and serves the next call silently.
    assert sorted(p.name for p in tmp_path.iterdir()) == [info.key]
    _, third = warm_start(tiny_world.train[:8], tiny_world.frames, **settings, warn=messages.append)
    assert third.cached and len(messages) == 1


def test_a_warm_start_that_cannot_be_stored_is_reported_and_the_run_goes_on(
    tiny_world: TaskData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk under the cache costs the cache entry, never the trained model."""

    def full_disk(self: VideoLM, path: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(VideoLM, "save", full_disk)
    messages: list[str] = []
    settings = {"cache_dir": tmp_path, "steps": 1, "batch_size": 4, "seed": 0}
    policy, info = warm_start(tiny_world.train[:4], tiny_world.frames, **settings, warn=messages.append)
    assert len(messages) == 1 and "could not store the warm start in the cache" in messages[0]
    assert "No space left on device" in messages[0] and messages[0].endswith("this run goes on")
    assert policy is not None and not info.cached
    assert list(tmp_path.iterdir()) == []  # no half-written entry left behind


def test_without_a_report_hook_it_is_a_python_warning(tiny_world: TaskData, tmp_path: Path) -> None:
    settings = {"cache_dir": tmp_path, "steps": 1, "batch_size": 4, "seed": 0}
    _, info = warm_start(tiny_world.train[:4], tiny_world.frames, **settings)
    truncate(info.path / "lm" / "model.safetensors")
    with pytest.warns(RuntimeWarning, match="does not load"):
        _, again = warm_start(tiny_world.train[:4], tiny_world.frames, **settings)
    assert not again.cached


def a_pair_set() -> PairSet:
    pairs = [
        PreferencePair(f"c{i}", "Describe.", "a red ball", "a cat", 8.0, 2.0, {"gap": 6.0}) for i in range(3)
    ]
    return PairSet(pairs, 4, 16, 4.0, [6.0, 6.0, 6.0, 1.0], {"short": 3}, {"short": 4}, 1.5)


@pytest.mark.parametrize(
    ("suffix", "keep", "reason"),
    [
        (".json", 50, "JSONDecodeError"),  # the summary cut short
        (".jsonl", 150, "whole pair(s) of 3"),  # the pairs cut short
        (".json", 0, "JSONDecodeError"),  # an empty summary
    ],
)
def test_a_damaged_pair_entry_is_reported_and_not_used(
    suffix: str, keep: int, reason: str, tmp_path: Path
) -> None:
    store_cached(tmp_path, "k", a_pair_set())
    assert load_cached(tmp_path, "k", warn=pytest.fail) is not None  # whole: used, nothing reported
    truncate(tmp_path / f"k{suffix}", keep)
    messages: list[str] = []
    assert load_cached(tmp_path, "k", warn=messages.append) is None  # the caller builds it again
    assert len(messages) == 1 and "\n" not in messages[0], messages
    assert f"pair cache entry k in {tmp_path} does not load (" in messages[0] and reason in messages[0]


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_damaged_pair_entry_is_a_python_warning_by_default(suffix: str, tmp_path: Path) -> None:
    store_cached(tmp_path, "k", a_pair_set())
    truncate(tmp_path / f"k{suffix}", 120)
    with pytest.warns(RuntimeWarning, match="pair cache entry k in .* does not load"):
        assert load_cached(tmp_path, "k") is None


def test_a_pair_summary_with_a_missing_field_is_not_used(tmp_path: Path) -> None:
    store_cached(tmp_path, "k", a_pair_set())
    (tmp_path / "k.json").write_text('{"kept": 3}')
    messages: list[str] = []
    assert load_cached(tmp_path, "k", warn=messages.append) is None
    assert "KeyError" in messages[0]


def test_the_cli_reports_a_damaged_warm_start_in_one_line_and_finishes(tmp_path: Path) -> None:
    args = ["run", "--tasks", "textpref", "--losses", "dpo", "--size", "tiny", "--budget", "steps=1"]
    args += [
        "--warm-start-steps",
        "2",
        "--out",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert runner.invoke(app, args).exit_code == 0
    (entry,) = (tmp_path / "cache" / "warmstart").iterdir()
    truncate(entry / "lm" / "model.safetensors")
    result = runner.invoke(app, [*args, "--rerun", "all"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if "warning:" in line]
    assert len(lines) == 1 and "warm-start cache entry" in lines[0], result.output
    assert "SafetensorError" in " ".join(result.output.split())
