"""The training cell on a real (tiny, text-only) transformers model: budgets, fairness, faults."""

from __future__ import annotations

import copy
import hashlib
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
from synpo_bench.train import LiveReference, PrecomputedReference, TrainSettings, lr_factor, train_cell

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


def batches_factory(seen: list[list[int]] | None = None, seed: int = 0):
    """Epoch -> batches, ordered by the seed and the epoch only (as the engine's ``pair_batches``)."""
    chosen, rejected = make_pairs()

    def make(epoch: int) -> Iterator[dict]:
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(N_PAIRS, generator=generator).tolist()
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
    seed: int = 0,
    settings: TrainSettings | None = None,
    on_step=None,
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
        make_batches=batches_factory(seen, seed),
        budget=Budget.parse(budget),
        settings=settings or TrainSettings(batch_size=BATCH, lr=1e-3),
        accelerator=Accelerator(cpu=True),
        reference=ref,
        metrics_path=tmp_path / f"{name}.jsonl",
        on_step=on_step,
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
        "batch_hash",
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


def test_batch_hashes_prove_the_same_order_across_losses_and_differ_by_seed(tmp_path: Path) -> None:
    hashes = {}
    for name, seed in (("dpo", 0), ("synpo", 0), ("dpo", 1)):
        _, lines = run(tmp_path, name, "steps=8", name=f"{name}{seed}", seed=seed)
        hashes[name, seed] = [line["batch_hash"] for line in lines]
    assert len(hashes["dpo", 0]) == 8 and len(set(hashes["dpo", 0])) == 8
    assert hashes["dpo", 0] == hashes["synpo", 0]  # step by step, from the files alone
    assert all(a != b for a, b in zip(hashes["dpo", 0], hashes["dpo", 1], strict=True))


def test_batch_hash_is_sha256_of_the_step_pair_indices_in_order(tmp_path: Path) -> None:
    seen: list[list[int]] = []
    settings = TrainSettings(batch_size=BATCH // 2, grad_accum=2, lr=1e-3)
    run(tmp_path, "simpo", "steps=3", seen=seen, settings=settings)  # 2 micro-batches per step
    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    for step, line in enumerate(lines):
        indices = seen[2 * step] + seen[2 * step + 1]
        text = ",".join(map(str, indices))
        assert line["batch_hash"] == "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def test_logged_lr_is_the_rate_the_step_used(tmp_path: Path) -> None:
    """Adam's first update moves each weight by lr·|g|/(|g| + ε), i.e. by lr wherever |g| >> ε: the
    largest change after step 1 is the rate step 1 used."""
    policy = TextPolicy()
    before = [p.detach().clone() for p in policy.parameters()]
    moved: list[float] = []

    def after_step(step: int, record: dict) -> None:
        if step == 1:
            pairs = zip(policy.parameters(), before, strict=True)
            moved.append(max((p.detach() - b).abs().max().item() for p, b in pairs))

    _, lines = run(tmp_path, "simpo", "steps=4", policy=policy, on_step=after_step)
    assert lines[0]["lr"] > 0
    assert moved[0] == pytest.approx(lines[0]["lr"], rel=1e-4)


def test_warmup_starts_above_zero_and_peaks_where_transformers_does(tmp_path: Path) -> None:
    # steps=4, warm-up ratio 0.1: W = ceil(0.4) = 1, N = 4, peak 1e-3. By hand: step 1 = 1/(W+1) = 1/2;
    # step 2 = (N-2+1)/(N-W) = 3/3; step 3 = 2/3; step 4 = 1/3.
    _, lines = run(tmp_path, "simpo", "steps=4")
    assert [line["lr"] for line in lines] == pytest.approx([5e-4, 1e-3, 1e-3 * 2 / 3, 1e-3 / 3])
    # The default 60-step budget warms up over W = 6 steps: 1/7, ..., 6/7, then the peak at step 7 and
    # linear decay to 1/54 at step 60.
    factors = [lr_factor(k, 6, 60) for k in (1, 6, 7, 8, 60)]
    assert factors == pytest.approx([1 / 7, 6 / 7, 1, 53 / 54, 1 / 54])
    # A time budget (N unknown): 10 warm-up steps, then the peak held.
    assert [lr_factor(k, 10, None) for k in (1, 10, 11, 500)] == pytest.approx([1 / 11, 10 / 11, 1, 1])


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


def test_precomputed_reference_uses_the_policy_itself_and_leaves_it_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = TextPolicy().train()
    before = {name: p.detach().clone() for name, p in policy.state_dict().items()}
    copied: list[object] = []
    original = copy.deepcopy

    def recording_deepcopy(value: object, *args: object) -> object:
        copied.append(value)
        return original(value, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(copy, "deepcopy", recording_deepcopy)
    reference = PrecomputedReference.compute(policy, batches_factory()(0), N_PAIRS)
    # No second copy of the model: the memory the precomputed mode is chosen to save.
    assert not any(isinstance(value, nn.Module) for value in copied)
    assert policy.training and reference.forward_passes > 0
    assert all(torch.equal(before[name], p) for name, p in policy.state_dict().items())


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
