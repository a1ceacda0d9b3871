"""``--tune``: the settings each loss is trained with, and how a setting changes a cell's training.

``--tune lr=1e-5,3e-5 --tune dpo.beta=0.05,0.1`` tunes two kinds of key: shared training keys
(``SHARED_KEYS``, every loss) and ``LOSS.PARAM`` (one loss's registered hyper-parameter). A loss's settings
are the product of the shared keys' values and its own keys' values; a loss with no key of its own gets the
shared product alone. Each setting is a cell of its own (``Cell.setting``), in a folder named by
``reports.tuning.setting_label``; the report chooses each loss's best on the validation part of the
evaluation items (``reports.selection``). Every check of the keys and values is in
``synpo_bench.validation``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence

from synpo_bench.train_settings import TrainSettings

Setting = tuple[tuple[str, float], ...]
"""One setting: (key, value) pairs in ``setting_keys`` order; () in shared mode."""
TuneGrid = Mapping[str, Sequence[float]]
"""``--tune`` as parsed: key -> its values, in the order given."""

SHARED_KEYS: dict[str, str] = {
    "lr": "the peak learning rate (> 0)",
    "warmup_ratio": "the share of steps warming up (0 to 1)",
    "weight_decay": "AdamW's weight decay (>= 0)",
    "max_grad_norm": "the gradient clipping norm (> 0)",
}
"""Training keys every loss shares (``TrainSettings`` fields that do not change the batches)."""


def loss_key(key: str) -> tuple[str, str] | None:
    """``dpo.beta`` -> (``dpo``, ``beta``); None for a shared key."""
    loss, dot, name = key.partition(".")
    return (loss, name) if dot else None


def setting_keys(tune: TuneGrid, loss: str) -> list[str]:
    """The keys of ``loss``'s settings: the shared ones, then its own, each alphabetically."""
    shared = sorted(key for key in tune if loss_key(key) is None)
    own = sorted(key for key in tune if (found := loss_key(key)) is not None and found[0] == loss)
    return [*shared, *own]


def loss_settings(tune: TuneGrid, loss: str) -> list[Setting]:
    """Every setting of ``loss``: the product of its keys' values; ``[()]`` when nothing is tuned."""
    keys = setting_keys(tune, loss)
    return [tuple(zip(keys, values, strict=True)) for values in itertools.product(*(tune[k] for k in keys))]


def train_settings(base: TrainSettings, setting: Setting) -> TrainSettings:
    """``base`` with the setting's shared keys replaced."""
    shared = {key: float(value) for key, value in setting if loss_key(key) is None}
    return dataclasses.replace(base, **shared) if shared else base


def loss_overrides(setting: Setting, loss: str) -> dict[str, float]:
    """The setting's hyper-parameters of ``loss``, by parameter name."""
    return {found[1]: value for key, value in setting if (found := loss_key(key)) and found[0] == loss}
