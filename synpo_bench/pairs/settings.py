"""The settings of one pair-building run and the progress callback it reports to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages: "sampling", "judging"."""


@dataclass(frozen=True)
class PairSettings:
    """Part of the pair cache key (``dataclasses.asdict``): renaming or reordering a field changes it."""

    n_samples: int = 4
    """Candidates per prompt, the contrastive ones included."""
    n_contrastive: int = 1
    temperature: float = 1.0
    top_k: int | None = None
    contrastive_alpha: float = 1.0
    threshold: float = 4.0
    max_new_tokens: int | None = None
    """None: the longest reference of the examples (in tokens) plus a margin."""
    batch_size: int = 256

    def validate(self) -> None:
        if self.n_samples < 2:
            raise ValueError(f"n_samples must be at least 2 to form a pair, got {self.n_samples}")
        if not 0 <= self.n_contrastive <= self.n_samples:
            raise ValueError(
                f"n_contrastive must lie in [0, n_samples={self.n_samples}], got {self.n_contrastive}"
            )
        if self.n_contrastive and self.contrastive_alpha <= 0:
            raise ValueError("contrastive candidates need contrastive_alpha > 0")
