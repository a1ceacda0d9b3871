"""The loss contract: ``@register_loss``, the loss registry, and ``Loss`` (a loss bound to its settings).

A loss is a pure function ``function(stats: PairStats, **hyper_parameters) -> LossTerms`` in one module of
``losses/``, registered with its published hyper-parameters; see ``losses/synpo.py`` for an example.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch

from synpo_bench.api.diagnostics import (
    LossFunction,
    LossOutput,
    LossTerms,
    negative_dominance,
    preference_metrics,
)
from synpo_bench.api.registry import Registry, UnknownNameError
from synpo_bench.api.stats import NonFiniteError, PairStats

__all__ = [
    "LOSSES",
    "Loss",
    "LossFunction",
    "LossOutput",
    "LossSpec",
    "LossTerms",
    "get_loss",
    "get_loss_spec",
    "list_losses",
    "register_loss",
]


@dataclass(frozen=True)
class LossSpec:
    name: str
    function: LossFunction
    defaults: Mapping[str, float]
    needs_reference: bool
    citation: str

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.function) or ""
        return doc.splitlines()[0] if doc else ""


LOSSES: Registry[LossSpec] = Registry("loss", "losses", "synpo_bench.losses", "synpo_bench.losses")


def register_loss(
    name: str, *, needs_reference: bool, citation: str, **defaults: float
) -> Callable[[LossFunction], LossFunction]:
    """Register ``function(stats: PairStats, **hyper_parameters) -> LossTerms`` under ``name``.

    ``defaults`` are the published hyper-parameters; they must match the function's keyword parameters.
    """

    def decorate(function: LossFunction) -> LossFunction:
        parameters = list(inspect.signature(function).parameters)[1:]
        if sorted(parameters) != sorted(defaults):
            raise TypeError(
                f"loss '{name}': defaults {sorted(defaults)} do not match the function's keyword "
                f"parameters {sorted(parameters)}"
            )
        spec = LossSpec(name, function, MappingProxyType(dict(defaults)), needs_reference, citation)
        LOSSES.add(name, spec)
        return function

    return decorate


class Loss:
    """A registered loss bound to its hyper-parameters; call it on ``PairStats``."""

    def __init__(self, spec: LossSpec, params: Mapping[str, float], diagnostics: bool = True) -> None:
        self.spec = spec
        self.params = dict(params)
        self.diagnostics = diagnostics

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def needs_reference(self) -> bool:
        return self.spec.needs_reference

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value}" for key, value in self.params.items())
        return f"Loss({self.name}: {args})"

    def __call__(self, stats: PairStats) -> LossOutput:
        if self.spec.needs_reference and not stats.has_reference:
            raise ValueError(
                f"loss '{self.name}' needs reference log-probabilities (ref_chosen_logp_sum, "
                "ref_rejected_logp_sum) and none were given"
            )
        if not self.spec.needs_reference:
            stats = stats.without_reference()  # reference-free: never even look at them
        stats.validate(self.name)
        terms = self.spec.function(stats, **self.params)
        if tuple(terms.per_pair.shape) != (stats.batch_size,):
            raise ValueError(f"loss '{self.name}' returned per_pair of shape {list(terms.per_pair.shape)}")
        loss = terms.per_pair.mean()
        if not bool(torch.isfinite(loss.detach())):
            raise NonFiniteError(f"loss '{self.name}' is not finite ({loss.item()}) for finite statistics")
        metrics = preference_metrics(terms)
        if self.diagnostics:
            metrics.update(negative_dominance(self.spec.function, self.params, stats))
        return LossOutput(loss=loss, per_pair=terms.per_pair, metrics=metrics)


def get_loss_spec(name: str) -> LossSpec:
    return LOSSES.get(name)


def get_loss(name: str, diagnostics: bool = True, **overrides: float) -> Loss:
    """The loss ``name`` with its published defaults, any of them overridden by keyword."""
    spec = LOSSES.get(name)
    unknown = sorted(set(overrides) - set(spec.defaults))
    if unknown:
        valid = ", ".join(spec.defaults) or "none"
        raise UnknownNameError(
            f"loss '{name}' has no hyper-parameter {', '.join(repr(u) for u in unknown)}; valid: {valid}"
        )
    return Loss(
        spec, {**spec.defaults, **{key: float(value) for key, value in overrides.items()}}, diagnostics
    )


def list_losses() -> list[str]:
    return LOSSES.names()
