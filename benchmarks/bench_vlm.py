"""A vision-language checkpoint under LoRA: time per step and peak memory of DPO with the adapters-off
reference, DPO with a frozen copy (live), and reference-free SynPO. Prints numbers; not a timed test.

    python benchmarks/bench_vlm.py [--steps 12] [--hidden 512] [--layers 8]

The model is a random-init Qwen2-VL built like the tests' (tests/_tiny_vlms.py), its language model
widened so that a second copy of it would show in memory; 8 pairs of real-length captions on 8-frame
32 x 32 clips. Each setting runs in its own process, one after the other (peak RSS is per process, and
two torch processes at once would share the cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/_tiny_vlms.py builds the checkpoint

PAIRS = 8
SETTINGS = {
    "dpo, adapters-off": ("dpo", "adapters-off"),
    "dpo, live copy": ("dpo", "live"),
    "synpo": ("synpo", "none"),
}


def one_setting(checkpoint: str, loss_name: str, mode: str, steps: int) -> dict[str, float]:
    import torch
    from accelerate import Accelerator

    from synpo_bench.api.losses import get_loss
    from synpo_bench.api.models import pair_rows
    from synpo_bench.api.tasks import PreferencePair
    from synpo_bench.budgets import Budget
    from synpo_bench.models import build_model
    from synpo_bench.train import AdaptersOffReference, LiveReference, TrainSettings, train_cell

    policy = build_model(checkpoint, lora=True)
    rng = np.random.default_rng(0)
    frames = {f"c{i}": rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8) for i in range(PAIRS)}
    caption = "a red circle moves left and then a blue square moves right on a striped background"
    pairs = [
        PreferencePair(
            f"c{i}", "Describe the video in detail.", caption, caption.replace("red", "green"), 5, 1
        )
        for i in range(PAIRS)
    ]
    batch = pair_rows(policy.collate, pairs, frames)
    batch["pair_index"] = torch.arange(PAIRS)
    reference = {"adapters-off": AdaptersOffReference, "live": LiveReference}.get(mode)
    with tempfile.TemporaryDirectory() as folder:
        outcome = train_cell(
            policy=policy,
            loss=get_loss(loss_name),
            make_batches=lambda epoch: iter([batch] * 1000),
            budget=Budget("steps", steps),
            settings=TrainSettings(batch_size=PAIRS, lr=1e-4),
            accelerator=Accelerator(cpu=True),
            reference=None if reference is None else reference(policy),
            metrics_path=Path(folder) / "m.jsonl",
        )
    elapsed = [h["elapsed_s"] for h in outcome.history]
    step_s = [b - a for a, b in zip([0.0, *elapsed], elapsed, strict=False)][2:]  # skip warm-up steps
    return {"ms_per_step": 1000 * statistics.median(step_s), "peak_mb": outcome.cost["peak_memory_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--one", nargs=3, metavar=("CHECKPOINT", "LOSS", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_setting(*args.one, steps=args.steps)))
        return
    from tests._tiny_vlms import build_tiny_vlm

    with tempfile.TemporaryDirectory() as folder:
        checkpoint = build_tiny_vlm(
            "qwen2_vl", Path(folder) / "qwen2vl", hidden=args.hidden, layers=args.layers
        )
        size = sum(f.stat().st_size for f in checkpoint.glob("*.safetensors")) / 2**20
        print(
            f"Qwen2-VL, LM hidden {args.hidden} x {args.layers} layers ({size:.0f} MB of weights), LoRA r=8"
        )
        results = {}
        for label, (loss, mode) in SETTINGS.items():
            command = [
                sys.executable,
                __file__,
                "--steps",
                str(args.steps),
                "--one",
                str(checkpoint),
                loss,
                mode,
            ]
            results[label] = json.loads(
                subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1]
            )
    base = results["dpo, adapters-off"]
    for label, result in results.items():
        ms, mb = result["ms_per_step"], result["peak_mb"]
        print(
            f"{label:18s} {ms:8.1f} ms/step ({ms / base['ms_per_step']:.2f}x)"
            f"   peak {mb:7.0f} MB ({mb / base['peak_mb']:.2f}x)"
        )


if __name__ == "__main__":
    main()
