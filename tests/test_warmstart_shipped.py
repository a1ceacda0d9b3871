"""The warm start shipped with the package (``synpo_bench/models/shipped_warmstart``, README "Set-up"): it is
the entry the code computes for the default run, a cold cache gets a copy instead of training, and any other
key trains as before."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from synpo_bench.api.tasks import CaptionExample, get_task
from synpo_bench.models import warmstart
from synpo_bench.models.warmstart import warm_start
from synpo_bench.models.warmstart_store import SHIPPED, prefill
from synpo_bench.run.prepare import EMBEDDED_WORLD_TASKS


@pytest.fixture(scope="module")
def default_world() -> tuple[list[CaptionExample], dict[str, np.ndarray]]:
    """The default run's warm-start examples (every embedded task's training examples, in the order
    ``TaskPreparer._warm_start_examples`` takes them) and the clips' frames."""
    examples: list[CaptionExample] = []
    frames: dict[str, np.ndarray] = {}
    for name in EMBEDDED_WORLD_TASKS:
        data = get_task(name)().load(None, seed=0, size="default")
        examples += data.train
        frames.update(data.frames)
    return examples, frames


def no_training(*args: object, **kwargs: object) -> float:
    raise AssertionError("the warm start trained although the shipped entry has its key")


def shipped_keys() -> list[str]:
    return sorted(p.name for p in SHIPPED.iterdir() if (p / "warmstart.json").is_file())


def test_the_shipped_entry_is_the_default_runs_warm_start(
    default_world: tuple[list[CaptionExample], dict[str, np.ndarray]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(warmstart, "train_sft", no_training)
    examples, frames = default_world
    policy, info = warm_start(examples, frames, cache_dir=tmp_path)
    assert shipped_keys() == [info.key], "regenerate the shipped entry (README: 'The shipped warm start')"
    assert info.cached and info.shipped and info.steps == 1232
    assert (tmp_path / info.key / "warmstart.json").is_file()  # copied into the cache, then loaded
    assert policy.start_path == str(tmp_path / info.key)
    _, again = warm_start(examples, frames, cache_dir=tmp_path)
    assert again.cached and not again.shipped  # the cache's own copy from now on


def test_another_key_trains_and_a_cache_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    key = shipped_keys()[0]
    assert not prefill(tmp_path / "another-key")
    blocked = tmp_path / "file"
    blocked.write_text("")  # a cache folder that is a file: nothing can be written under it
    assert not prefill(blocked / key)
    shipped = tmp_path / "shipped"
    shutil.copytree(SHIPPED / key, shipped / key)
    assert prefill(tmp_path / "cache" / key, shipped)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [key]  # no temporary folder left
    assert not prefill(tmp_path / "cache" / key, shipped)  # already there: left as it is
