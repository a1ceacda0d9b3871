"""synpo-bench's losses equal TRL's on the same first batch, computed by TRL's own trainers.

One tiny Llama, 4 ragged pairs and a reference of another seed (benchmarks/trl_parity.py): for every loss
both libraries have, our engine's first-step loss equals TRL's trainer's loss on its own collated batch
(DPOTrainer.compute_loss; CPOTrainer / ORPOTrainer.get_batch_loss_metrics). CPO and ORPO average their
NLL term differently from TRL (documented in trl_parity), so theirs is compared with TRL's NLL term
replaced by ours. TRL comes with the `bench` extra, which `make test` and CI install.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl")
# The benchmarks import each other as top-level modules (the folder of the running script is on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from trl_inputs import ModelShape, make_pairs  # after the skip: trl_parity imports trl
from trl_parity import SHARED, FirstBatch, RunSettings, Setup, SharedLoss, first_batch, ours_first_batch

# TRL 1.16 reads transformers 5's deprecated is_gradient_checkpointing: its warning, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")

SHAPE = ModelShape(vocab=64, width=32, layers=1, heads=4, intermediate=64)


@pytest.fixture(scope="module")
def setup() -> Setup:
    return Setup.build(SHAPE, make_pairs(4, 24, SHAPE), RunSettings())


@pytest.fixture(scope="module")
def results(setup: Setup) -> dict[str, FirstBatch]:
    return {spec.name: first_batch(setup, spec) for spec in SHARED}


@pytest.mark.parametrize("spec", SHARED, ids=lambda spec: spec.name)
def test_first_batch_loss_equals_trl(results: dict[str, FirstBatch], spec: SharedLoss) -> None:
    result = results[spec.name]
    torch.testing.assert_close(result.ours, result.trl_with_our_nll, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("spec", SHARED, ids=lambda spec: spec.name)
def test_a_changed_hyper_parameter_breaks_the_equality(
    setup: Setup, results: dict[str, FirstBatch], spec: SharedLoss
) -> None:
    """The comparison can fail: 10% on the loss's first hyper-parameter moves ours away from TRL's."""
    key = next(iter(spec.params))
    changed = ours_first_batch(setup, spec.name, {**spec.params, key: 1.1 * spec.params[key]})
    expected = results[spec.name].trl_with_our_nll
    assert abs(changed - expected) > 1e-4 * abs(expected), (key, changed, expected)


def test_the_reference_is_not_the_start(results: dict[str, FirstBatch]) -> None:
    """With the start as its own reference DPO's first batch is ln 2 whatever its formula."""
    assert abs(results["dpo"].ours - 0.6931471805599453) > 1e-3


def test_cpo_and_orpo_nll_averaging_differs_from_trl(results: dict[str, FirstBatch]) -> None:
    """The documented difference is real on ragged pairs (and the swap above is what makes them equal)."""
    for name in ("cpo", "orpo"):
        result = results[name]
        assert result.trl_nll is not None and result.ours_nll is not None
        assert abs(result.trl_nll - result.ours_nll) > 1e-5, name
