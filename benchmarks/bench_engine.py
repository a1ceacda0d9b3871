"""Engine speed on the same model and batch: reference-free losses vs DPO with a live reference, and the
engine's overhead over a bare PyTorch loop. Prints numbers; not a timed test.

    python benchmarks/bench_engine.py [--steps 30]

Model and batch as in FACTS.md: LlamaForCausalLM (vocab 512, hidden 128, 2 layers, 4 heads), 16 pairs
of 96 tokens (one forward over 32 rows).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from torch import Tensor, nn
from transformers import LlamaConfig, LlamaForCausalLM

from synpo_bench.api.losses import get_loss
from synpo_bench.api.stats import IGNORE_INDEX, sequence_stats, split_pairs
from synpo_bench.budgets import Budget
from synpo_bench.train import LiveReference, TrainSettings, train_cell

PAIRS, LENGTH, VOCAB, PROMPT = 16, 96, 512, 16


class TextPolicy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lm = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=VOCAB,
                hidden_size=128,
                intermediate_size=256,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=4,
                max_position_embeddings=128,
            )
        )

    def forward(self, frames: Tensor | None, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.lm(input_ids=input_ids, attention_mask=attention_mask).logits


def fixed_batch() -> dict:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (2 * PAIRS, LENGTH), generator=generator)
    labels = ids.clone()
    labels[:, :PROMPT] = IGNORE_INDEX
    return {
        "frames": None,
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": labels,
        "pair_index": torch.arange(PAIRS),
    }


def engine_step_times(loss_name: str, steps: int) -> list[float]:
    policy = TextPolicy()
    loss = get_loss(loss_name)
    batch = fixed_batch()
    reference = LiveReference(policy) if loss.needs_reference else None
    with tempfile.TemporaryDirectory() as folder:
        outcome = train_cell(
            policy=policy,
            loss=loss,
            make_batches=lambda epoch: iter([batch] * 1000),
            budget=Budget("steps", steps),
            settings=TrainSettings(batch_size=PAIRS, lr=1e-4),
            accelerator=Accelerator(cpu=True),
            reference=reference,
            metrics_path=Path(folder) / "m.jsonl",
        )
    elapsed = [h["elapsed_s"] for h in outcome.history]
    return [b - a for a, b in zip([0.0, *elapsed], elapsed, strict=False)]


def bare_step_times(steps: int) -> list[float]:
    """The same forward, SynPO loss, backward, clipping and AdamW step, with nothing around them."""
    policy = TextPolicy()
    batch = fixed_batch()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-4)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        logits = policy(None, batch["input_ids"], batch["attention_mask"])
        stats = split_pairs(sequence_stats(logits, batch["labels"]))
        gap = stats.chosen_logp_mean.exp() - stats.rejected_logp_mean.exp()
        loss = (-torch.sigmoid(30 * gap) - 0.2 * stats.chosen_p_mean).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return times


def median_ms(times: list[float]) -> float:
    return 1000 * statistics.median(times[3:])  # skip warm-up steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds: load drift hits all alike")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {PAIRS} pairs x {LENGTH} tokens")
    names = ("dpo", "simpo", "orpo", "synpo")
    samples: dict[str, list[float]] = {name: [] for name in (*names, "bare")}
    for _ in range(args.rounds):
        for name in names:
            samples[name].append(median_ms(engine_step_times(name, args.steps)))
        samples["bare"].append(median_ms(bare_step_times(args.steps)))
    per_loss = {name: statistics.median(values) for name, values in samples.items()}
    for name in names:
        ms = per_loss[name]
        print(f"{name:6s} {ms:7.1f} ms/step   ratio to dpo (live reference): {ms / per_loss['dpo']:.2f}")
    bare = per_loss["bare"]
    print(f"bare PyTorch loop (synpo): {bare:.1f} ms/step; engine overhead: {per_loss['synpo'] / bare:.3f}x")


if __name__ == "__main__":
    main()
