"""Name -> loss / task registries.

Adding a loss is adding one module to ``losses/`` that decorates its function with ``@register_loss``;
adding a task family is one module in ``tasks/`` with ``@register_task``. Both packages are scanned on
first use, so no other file needs an edit. Third-party plug-ins register the same way, loaded by import
path (``import_plugins(["mypkg.my_loss"])``, ``--plugin`` on the CLI) or through the entry-point groups
``synpo_bench.losses`` / ``synpo_bench.tasks``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import torch
from torch import Tensor

from synpo_bench.errors import UserError
from synpo_bench.stats import NonFiniteError, PairStats

T = TypeVar("T")


class UnknownNameError(KeyError, UserError):
    """A loss, task or parameter name that is not registered; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """A name -> entry table filled by importing every module of a package (and entry points)."""

    def __init__(self, kind: str, plural: str, package: str, entry_point_group: str) -> None:
        self.kind = kind
        self.plural = plural
        self._package = package
        self._group = entry_point_group
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._discovered = False

    def add(self, name: str, entry: T, aliases: Iterable[str] = ()) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = entry
        for alias in aliases:
            self._aliases[alias] = name

    def remove(self, name: str) -> None:
        """Forget ``name`` and its aliases (plug-ins loaded for one test, for example)."""
        self._entries.pop(name, None)
        self._aliases = {alias: target for alias, target in self._aliases.items() if target != name}

    def aliases_of(self, name: str) -> list[str]:
        return sorted(alias for alias, target in self._aliases.items() if target == name)

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def get(self, name: str) -> T:
        self._discover()
        canonical = self._aliases.get(name, name)
        if canonical not in self._entries:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'; valid {self.plural}: {', '.join(self.names())}"
            )
        return self._entries[canonical]

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self._package)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{self._package}.{module.name}")
        for entry in entry_points(group=self._group):
            importlib.import_module(entry.value.split(":")[0])


class PluginError(ValueError, UserError):
    """A plug-in module that cannot be imported."""


def import_plugins(modules: Iterable[str]) -> None:
    """Import plug-in modules by dotted path; importing them registers their losses and tasks."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise PluginError(f"cannot import plug-in module '{module}': {error}") from error


# ---------------------------------------------------------------------------------------------- losses


@dataclass(frozen=True)
class LossTerms:
    """What a loss function computes: the per-pair loss and the implicit rewards it compares.

    ``reward_chosen`` / ``reward_rejected`` are the quantities the loss ranks (so ``margin`` and
    ``accuracy`` mean "does the loss currently prefer the chosen response"); ``metrics`` holds extra
    loss-specific diagnostics as scalar tensors.
    """

    per_pair: Tensor
    reward_chosen: Tensor
    reward_rejected: Tensor
    metrics: Mapping[str, Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class LossOutput:
    loss: Tensor
    """Scalar, differentiable: the mean of ``per_pair``."""
    per_pair: Tensor
    metrics: dict[str, float]


LossFunction = Callable[..., LossTerms]


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


LOSSES: Registry[LossSpec] = Registry("loss", "losses", "losses", "synpo_bench.losses")


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
        metrics = _preference_metrics(terms)
        if self.diagnostics:
            metrics.update(_gradient_split(self.spec.function, self.params, stats))
        return LossOutput(loss=loss, per_pair=terms.per_pair, metrics=metrics)


def _preference_metrics(terms: LossTerms) -> dict[str, float]:
    chosen, rejected = terms.reward_chosen.detach(), terms.reward_rejected.detach()
    metrics = {
        "reward_chosen": chosen.mean().item(),
        "reward_rejected": rejected.mean().item(),
        "margin": (chosen - rejected).mean().item(),
        "accuracy": (chosen > rejected).float().mean().item(),
    }
    metrics.update({key: float(value.detach().mean()) for key, value in terms.metrics.items()})
    return metrics


def _gradient_split(
    function: LossFunction, params: Mapping[str, float], stats: PairStats
) -> dict[str, float]:
    """How hard the loss pulls on the chosen versus the rejected response ("negative dominance").

    Every token log-probability of a response is shifted by the same δ, which moves ``logp_sum`` by
    n·δ, the token-mean by δ and ``p_mean`` by a factor e^δ, consistently. ∂L/∂δ divided by the
    response's geometric-mean token probability P = exp(logp_mean) is the gradient in probability space,
    where DPO's pull on a rejected response grows like 1/P as P falls (Feng et al. 2024, "Towards
    analyzing and understanding the limitations of DPO"). Costs one extra loss evaluation on ``[batch]``
    scalars, the same for every loss.
    """
    with torch.enable_grad():
        detached = {name: value.detach() for name, value in stats.present_fields().items()}
        shift_chosen = torch.zeros_like(detached["chosen_logp_sum"], requires_grad=True)
        shift_rejected = torch.zeros_like(detached["rejected_logp_sum"], requires_grad=True)
        shifted = PairStats(
            **{
                **detached,
                "chosen_logp_sum": detached["chosen_logp_sum"] + detached["chosen_n_tokens"] * shift_chosen,
                "rejected_logp_sum": detached["rejected_logp_sum"]
                + detached["rejected_n_tokens"] * shift_rejected,
                "chosen_p_mean": detached["chosen_p_mean"] * torch.exp(shift_chosen),
                "rejected_p_mean": detached["rejected_p_mean"] * torch.exp(shift_rejected),
            }
        )
        total = function(shifted, **params).per_pair.sum()
        grad_chosen, grad_rejected = torch.autograd.grad(
            total, [shift_chosen, shift_rejected], allow_unused=True, materialize_grads=True
        )
    chosen = (grad_chosen.abs() / shifted.chosen_logp_mean.detach().exp()).mean().item()
    rejected = (grad_rejected.abs() / shifted.rejected_logp_mean.detach().exp()).mean().item()
    total_pull = chosen + rejected
    return {
        "grad_chosen": chosen,
        "grad_rejected": rejected,
        "negative_dominance": rejected / total_pull if total_pull > 0 else 0.0,
    }


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


# ----------------------------------------------------------------------------------------------- tasks

TASKS: Registry[Any] = Registry("task", "tasks", "tasks", "synpo_bench.tasks")


def register_task(name: str, aliases: Iterable[str] = ()) -> Callable[[type[T]], type[T]]:
    """Register a task adapter class under ``name`` (and aliases such as lmms-eval task names)."""

    def decorate(adapter: type[T]) -> type[T]:
        TASKS.add(name, adapter, aliases)
        return adapter

    return decorate


def get_task(name: str) -> Any:
    return TASKS.get(name)


def list_tasks() -> list[str]:
    return TASKS.names()
