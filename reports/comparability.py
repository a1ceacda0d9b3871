"""Whether a task's cells are comparable: every cell of a task must share its config, budget and data.

Seeds and losses differ by design; anything else that differs (a learning rate, a budget, the data's
hash) makes a comparison unfair, so it becomes a warning naming the odd manifest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from synpo_bench.reports.results import JsonObject

_CONFIG_IGNORED_KEYS = frozenset({"seed", "seeds", "loss", "losses"})


def config_mismatches(manifests: Sequence[tuple[Path, JsonObject]]) -> list[str]:
    """One warning per cell whose config differs from the rest of its task (seed and loss aside)."""
    by_task: dict[str, list[tuple[Path, JsonObject]]] = {}
    for path, manifest in manifests:
        loss_dir = path.parent.parent  # a tuned cell (``loss/<label>/seed<k>``) lies one level deeper
        task_dir = loss_dir.parent.parent if "=" in loss_dir.name else loss_dir.parent
        by_task.setdefault(task_dir.name, []).append((path, _comparable(manifest)))
    warnings = []
    for task, entries in by_task.items():
        groups: dict[str, list[tuple[Path, JsonObject]]] = {}
        for path, settings in entries:
            groups.setdefault(json.dumps(settings, sort_keys=True, default=str), []).append((path, settings))
        if len(groups) < 2:
            continue
        majority = max(groups.values(), key=len)  # the first largest group, in folder order
        reference_path, reference = majority[0]
        for group in groups.values():
            if group is majority:
                continue
            for path, settings in group:
                keys = sorted(
                    k for k in reference.keys() | settings.keys() if reference.get(k) != settings.get(k)
                )
                warnings.append(
                    f"{path}: config differs from the other cells of task '{task}' "
                    f"(e.g. {reference_path}) in {', '.join(keys)}; their comparison may be unfair"
                )
    return warnings


def _comparable(manifest: JsonObject) -> JsonObject:
    """The settings that must match across a task's cells, flattened to dotted keys."""
    config = manifest.get("config")
    settings = {
        "config": {k: v for k, v in config.items() if k not in _CONFIG_IGNORED_KEYS}
        if isinstance(config, dict)
        else config,
        "budget": manifest.get("budget"),
        "data_hash": manifest.get("data_hash"),
    }
    return _flatten(settings)


def _flatten(value: object, prefix: str = "") -> JsonObject:
    if isinstance(value, dict) and value:
        flat: JsonObject = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}
