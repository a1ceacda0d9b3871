"""The training cell on a real (tiny, text-only) transformers model: budgets, fairness, faults."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from torch import Tensor, nn
from transformers import LlamaConfig, LlamaForCausalLM

from synpo_bench.api.losses import get_loss
from synpo_bench.api.stats import IGNORE_INDEX
from synpo_bench.budgets import Budget, BudgetError
from synpo_bench.train import LiveReference, PrecomputedReference, TrainSettings, train_cell

VOCAB, LENGTH, N_PAIRS, BATCH = 64, 12, 24, 4


class TextPolicy(nn.Module):
    """A tiny Llama behind the engine's policy interface (frames are ignored: text only)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        config = LlamaConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=64,
        )
        self.lm = LlamaForCausalLM(config)
        self.calls = 0
        self.poison_at: int | None = None

    def forward(self, frames: Tensor | None, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        self.calls += 1
        logits = self.lm(input_ids=input_ids, attention_mask=attention_mask).logits
        if self.poison_at is not None and self.calls >= self.poison_at:
            logits = logits * float("nan")
        return logits


def make_pairs() -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(123)
    chosen = torch.randint(0, VOCAB, (N_PAIRS, LENGTH), generator=generator)
    rejected = torch.randint(0, VOCAB, (N_PAIRS, LENGTH), generator=generator)
    return chosen, rejected


def batches_factory(seen: list[list[int]] | None = None):
    chosen, rejected = make_pairs()

    def make(epoch: int) -> Iterator[dict]:
        order = torch.randperm(N_PAIRS, generator=torch.Generator().manual_seed(epoch)).tolist()
        for start in range(0, N_PAIRS, BATCH):
            index = order[start : start + BATCH]
            if seen is not None:
                seen.append(index)
            ids = torch.cat([chosen[index], rejected[index]])
            labels = ids.clone()
            labels[:, :4] = IGNORE_INDEX  # the prompt
            yield {
                "frames": None,
                "input_ids": ids,
                "attention_mask": torch.ones_like(ids),
                "labels": labels,
                "pair_index": torch.tensor(index),
            }

    return make


def run(
    tmp_path: Path,
    loss_name: str,
    budget: str = "steps=4",
    policy: TextPolicy | None = None,
    reference: str | None = "live",
    seen: list[list[int]] | None = None,
    name: str = "m",
):
    policy = policy or TextPolicy()
    loss = get_loss(loss_name)
    ref = None
    if loss.needs_reference and reference == "live":
        ref = LiveReference(policy)
    elif loss.needs_reference and reference == "precomputed":
        ref = PrecomputedReference.compute(policy, batches_factory()(0), N_PAIRS)
    outcome = train_cell(
        policy=policy,
        loss=loss,
        make_batches=batches_factory(seen),
        budget=Budget.parse(budget),
        settings=TrainSettings(batch_size=BATCH, lr=1e-3),
        accelerator=Accelerator(cpu=True),
        reference=ref,
        metrics_path=tmp_path / f"{name}.jsonl",
    )
    lines = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    return outcome, lines


def test_step_budget_and_metrics_file(tmp_path: Path) -> None:
    outcome, lines = run(tmp_path, "synpo", "steps=4")
    assert outcome.failure is None
    assert outcome.budget_reached["steps"] == 4 and outcome.budget_reached["pairs"] == 16
    assert [line["step"] for line in lines] == [1, 2, 3, 4]
    for key in (
        "loss",
        "reward_chosen",
        "margin",
        "accuracy",
        "lr",
        "logit_grad_norm_chosen",
        "logit_grad_norm_rejected",
        "negative_dominance",
        "elapsed_s",
    ):
        assert key in lines[0], key
    assert lines[0]["logit_grad_norm_chosen"] > 0 and lines[0]["logit_grad_norm_rejected"] > 0
    cost = outcome.cost
    assert cost["steps"] == 4 and cost["forward_passes"] == 4  # reference-free: one pass per step
    assert cost["tokens"] == 4 * 2 * BATCH * LENGTH
    assert cost["peak_memory_mb"] > 10 and cost["memory_kind"] == "rss"
    phases = sum(
        cost[f"{p}_s"] for p in ("data", "policy_forward", "reference_forward", "backward", "optimizer")
    )
    assert phases <= cost["wall_clock_s"] * 1.001
    assert cost["reference_forward_s"] == 0.0


def test_live_reference_costs_a_forward_per_step(tmp_path: Path) -> None:
    outcome, _ = run(tmp_path, "dpo", "steps=3")
    assert outcome.cost["forward_passes"] == 6
    assert outcome.cost["reference_forward_s"] > 0


def test_pair_and_second_budgets(tmp_path: Path) -> None:
    outcome, _ = run(tmp_path, "simpo", "pairs=10")
    assert outcome.budget_reached["steps"] == 3  # 4 + 4 + 4 >= 10
    outcome, _ = run(tmp_path, "simpo", "seconds=0.3", name="s")
    assert outcome.budget_reached["seconds"] >= 0.3
    assert outcome.budget_reached["steps"] >= 1


def test_every_loss_sees_the_same_batches_in_the_same_order(tmp_path: Path) -> None:
    orders = {}
    for name in ("dpo", "synpo", "orpo"):
        seen: list[list[int]] = []
        run(tmp_path, name, "steps=8", seen=seen, name=name)  # 8 steps = 1 epoch + 2 batches of the next
        orders[name] = seen[:8]
    assert orders["dpo"] == orders["synpo"] == orders["orpo"]
    one_epoch = sorted(i for batch in orders["dpo"][:6] for i in batch)
    assert one_epoch == list(range(N_PAIRS))  # every pair exactly once


def test_identical_runs_give_identical_metrics(tmp_path: Path) -> None:
    _, first = run(tmp_path, "dpo", "steps=3", name="a")
    _, second = run(tmp_path, "dpo", "steps=3", name="b")
    strip = [{k: v for k, v in line.items() if k != "elapsed_s"} for line in first]
    assert strip == [{k: v for k, v in line.items() if k != "elapsed_s"} for line in second]


def test_precomputed_reference_matches_live(tmp_path: Path) -> None:
    _, live = run(tmp_path, "dpo", "steps=2", reference="live", name="live")
    _, pre = run(tmp_path, "dpo", "steps=2", reference="precomputed", name="pre")
    assert pre[0]["loss"] == pytest.approx(live[0]["loss"], rel=1e-5)
    assert pre[1]["margin"] == pytest.approx(live[1]["margin"], rel=1e-4, abs=1e-6)
    # At step 1 the policy is the reference, so every DPO reward is zero and the loss is log 2.
    assert live[0]["loss"] == pytest.approx(math.log(2), rel=1e-5)


def test_non_finite_loss_stops_the_cell_with_step_and_reason(tmp_path: Path) -> None:
    policy = TextPolicy()
    policy.poison_at = 3  # the third forward pass produces NaN logits
    outcome, lines = run(tmp_path, "simpo", "steps=6", policy=policy)
    assert outcome.failure is not None
    assert outcome.failure.step == 3
    assert "not finite" in outcome.failure.reason and "simpo" in outcome.failure.reason
    assert len(lines) == 2


def test_missing_reference_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a reference model"):
        run(tmp_path, "dpo", reference=None)


@pytest.mark.parametrize("text", ["steps", "steps=0", "minutes=3", "pairs=2.5", "seconds=-1", "steps=abc"])
def test_bad_budgets_are_rejected(text: str) -> None:
    with pytest.raises(BudgetError):
        Budget.parse(text)


def test_budget_planning() -> None:
    assert Budget.parse("pairs=100").planned_steps(16) == 7
    assert Budget.parse("steps=5").planned_steps(16) == 5
    assert Budget.parse("seconds=5").planned_steps(16) is None


def test_each_step_is_on_disk_when_it_ends(tmp_path: Path) -> None:
    """A killed cell keeps its curve, and ``tail -f`` shows it live: the metrics file holds every
    finished step's line while training is still going."""
    path = tmp_path / "live.jsonl"
    on_disk: list[int] = []
    train_cell(
        policy=TextPolicy(),
        loss=get_loss("simpo"),
        make_batches=batches_factory(),
        budget=Budget.parse("steps=3"),
        settings=TrainSettings(batch_size=BATCH, lr=1e-3),
        accelerator=Accelerator(cpu=True),
        reference=None,
        metrics_path=path,
        on_step=lambda step, record: on_disk.append(len(path.read_text().splitlines())),
    )
    assert on_disk == [1, 2, 3]
