"""The ground floor: what plug-in authors (losses, tasks, judges) and the rest of synpo-bench import.

Nothing here imports the engine, the tasks, the losses or the reports (``tests/test_layers.py``).

    errors       UserError: a user mistake, printed in one line, exit 2
    io           atomic writes, JSON reading, content hashes
    stats        PairStats and the per-sequence statistics every loss is computed from
    diagnostics  LossTerms; preference metrics and negative dominance, the same for every loss
    losses       @register_loss, the loss registry, Loss (a loss bound to its hyper-parameters)
    facts        a clip's ground-truth facts
    judges       FactGrade, Rating; the Judge protocols; @register_judge and make_judge
    tasks        CaptionExample, PreferencePair, TaskData, TaskAdapter; @register_task
    models       the Policy protocol the engine, pair pipeline and evaluation call
    registry     the generic name -> entry registry and plug-in loading
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Names load on first use (PEP 562): `synpo-bench report` imports api.errors and api.io, and must not pay
# for torch, which api.stats and api.diagnostics import.
_HOMES = {
    "CaptionExample": "tasks",
    "ClipFacts": "facts",
    "FactGrade": "judges",
    "Judge": "judges",
    "JudgeError": "judges",
    "LossTerms": "diagnostics",
    "ObjectFacts": "facts",
    "PairStats": "stats",
    "PreferencePair": "tasks",
    "Rating": "judges",
    "TaskAdapter": "tasks",
    "TaskData": "tasks",
    "UserError": "errors",
    "get_loss": "losses",
    "register_judge": "judges",
    "register_loss": "losses",
    "register_task": "tasks",
}
__all__ = [
    "CaptionExample",
    "ClipFacts",
    "FactGrade",
    "Judge",
    "JudgeError",
    "LossTerms",
    "ObjectFacts",
    "PairStats",
    "PreferencePair",
    "Rating",
    "TaskAdapter",
    "TaskData",
    "UserError",
    "get_loss",
    "register_judge",
    "register_loss",
    "register_task",
]

if TYPE_CHECKING:
    from synpo_bench.api.diagnostics import LossTerms
    from synpo_bench.api.errors import UserError
    from synpo_bench.api.facts import ClipFacts, ObjectFacts
    from synpo_bench.api.judges import FactGrade, Judge, JudgeError, Rating, register_judge
    from synpo_bench.api.losses import get_loss, register_loss
    from synpo_bench.api.stats import PairStats
    from synpo_bench.api.tasks import CaptionExample, PreferencePair, TaskAdapter, TaskData, register_task


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'synpo_bench.api' has no attribute '{name}'")
    return getattr(importlib.import_module(f"synpo_bench.api.{_HOMES[name]}"), name)
