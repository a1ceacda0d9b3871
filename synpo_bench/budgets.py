"""Training budgets: every loss of a comparison stops at the same optimizer step, pair count or time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from synpo_bench.api.errors import UserError

BudgetKind = Literal["steps", "pairs", "seconds"]
KINDS: tuple[BudgetKind, ...] = ("steps", "pairs", "seconds")


class BudgetError(ValueError, UserError):
    pass


@dataclass(frozen=True)
class Budget:
    kind: BudgetKind
    value: float

    def __str__(self) -> str:
        return f"{self.kind}={self.value:g}"

    @classmethod
    def parse(cls, text: str) -> Budget:
        """Parse ``steps=200``, ``pairs=2000`` or ``seconds=60``."""
        kind, sep, raw = text.partition("=")
        kind = kind.strip()
        if not sep or kind not in KINDS:
            raise BudgetError(f"budget '{text}' must look like steps=N, pairs=N or seconds=S")
        try:
            value = float(raw)
        except ValueError:
            raise BudgetError(f"budget '{text}': '{raw}' is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise BudgetError(f"budget '{text}': the value must be a positive number")
        if kind != "seconds" and value != int(value):
            raise BudgetError(f"budget '{text}': {kind} must be a whole number")
        return cls(kind, value)  # type: ignore[arg-type]

    def planned_steps(self, pairs_per_step: int) -> int | None:
        """Optimizer steps the schedule is planned for; None for a time budget (unknown in advance)."""
        if self.kind == "steps":
            return int(self.value)
        if self.kind == "pairs":
            return max(1, math.ceil(self.value / pairs_per_step))
        return None

    def reached(self, steps: int, pairs_seen: int, elapsed_s: float) -> bool:
        if self.kind == "steps":
            return steps >= self.value
        if self.kind == "pairs":
            return pairs_seen >= self.value
        return elapsed_s >= self.value
