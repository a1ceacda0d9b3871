"""A warm-start cache entry on disk: a folder named by its key, saved atomically (complete or absent), loaded
back, or reported and set aside when it does not load (a file truncated or edited outside the tool).

The package ships the entry of the embedded default's warm start (``SHIPPED``, 2.6 MB): the SFT is most of a
cold default run's time (2.6 min on two fast cores, about 8 on an AVX2-only CPU), and its result is the same
on every machine that computes the same key. A cache without the entry gets a copy of the shipped one
(``prefill``); any other key, or a changed world, model or SFT (the key follows ``WARM_START_VERSION``),
trains as before. ``tests/test_warmstart_shipped.py`` checks that the shipped key is the one the code
computes for the default run."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from synpo_bench.api.io import Warn, create_temp_dir, follow_umask, one_line
from synpo_bench.api.models import Policy
from synpo_bench.models.build import load_policy

SHIPPED = Path(__file__).parent / "shipped_warmstart"
"""Prefilled cache entries shipped with the package, one folder per key (package data)."""


def prefill(target: Path, shipped: Path = SHIPPED) -> bool:
    """Copy the shipped entry named like ``target`` into the cache when the cache has none: complete or absent
    (copied beside ``target``, then renamed). Returns whether ``target`` now holds the shipped entry; a
    cache that cannot be written is not an error (the entry is trained and stored as usual)."""
    source = shipped / target.name
    if (target / "warmstart.json").is_file() or not (source / "warmstart.json").is_file():
        return False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = create_temp_dir(target)
    except OSError:
        return False
    try:
        shutil.copytree(source, temp, dirs_exist_ok=True)
        follow_umask(temp)
        os.rename(temp, target)
    except OSError:
        return (target / "warmstart.json").is_file()  # a concurrent run's copy, or an unwritable cache
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return True


def load_entry(target: Path, lora: bool, warn: Warn) -> tuple[Policy, float, float] | None:
    """The entry's model, final loss and training seconds; None when there is none, or when it does not
    load (reported, and set aside so that the rebuilt entry can take its place)."""
    if not (target / "warmstart.json").is_file():
        return None
    try:
        saved = json.loads((target / "warmstart.json").read_text())
        policy = load_policy(target, lora=lora)
        return policy, float(saved["final_loss"]), float(saved["train_seconds"])
    except Exception as error:  # any damage (safetensors, torch, JSON, tokenizer) costs a rebuild only
        warn(f"warm-start cache entry {target} does not load ({one_line(error)}); training it again")
        discard(target)
        return None


def discard(target: Path) -> None:
    """Move a damaged entry out of the way (one rename, so no reader sees it half-deleted), then delete it."""
    trash = target.parent / f".{target.name}.{secrets.token_hex(6)}.damaged"
    try:
        os.rename(target, trash)
    except OSError:  # a concurrent run moved it first
        return
    shutil.rmtree(trash, ignore_errors=True)


def save_entry(policy: Policy, record: dict[str, Any], target: Path, warn: Warn) -> bool:
    """Fill a temporary folder beside ``target`` and rename it into place: complete or absent.

    A failure to store (a full disk, a read-only cache) is reported, never fatal: the trained model is
    in memory and the run goes on; the next run trains the entry again. Returns whether it was stored.
    """
    try:
        _save(policy, record, target)
    except Exception as error:
        warn(f"could not store the warm start in the cache at {target} ({one_line(error)}); this run goes on")
        return False
    return True


def _save(policy: Policy, record: dict[str, Any], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = create_temp_dir(target)  # not mkdtemp: its 0700 would make the cache entry private
    try:
        policy.save(temp)
        (temp / "warmstart.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        follow_umask(temp)
        try:
            os.rename(temp, target)
        except OSError:
            if not (target / "warmstart.json").is_file():  # not a concurrent writer's finished copy
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
