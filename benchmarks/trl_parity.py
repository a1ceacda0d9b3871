"""synpo-bench beside TRL on the same model and pairs: shared by benchmarks/bench_trl.py and
tests/test_trl_parity.py (needs the `bench` extra: pip install -e '.[bench]'): the loss mapping and both
trainers in one place, so that the benchmark and the parity test cannot drift apart; the model, pairs and
tokenizer they start from are in benchmarks/trl_inputs.py. Both import these as top-level modules, with
the benchmarks folder on sys.path (the folder of the running script; the test adds it).

One Llama built from a config (seeded), one fixed set of preference pairs as token ids, and for each loss
both libraries have, TRL's trainer (DPOTrainer, or trl.experimental's CPOTrainer / ORPOTrainer) and
synpo-bench's engine (`train_cell` with the registered loss) set up to train the same steps.

The pairs reach TRL as text through its own tokenization: a character-level tokenizer maps token id i to
one character, so "prompt", "chosen" and "rejected" strings tokenize back to exactly our ids, and TRL
appends the EOS to each response as it does for any text data set; our rows get the same EOS. Both sides
pad to the same length with the same id (TRL's pad, the EOS).

Where the definitions differ (SHARED notes): CPO's and ORPO's NLL term. TRL averages it over all the
batch's chosen tokens (nn.CrossEntropyLoss over the flattened batch), ORPO's over the prompt tokens too;
ours is the mean over pairs of each chosen response's token-averaged NLL (the `sft` loss). The
comparison therefore also gives TRL's loss with its NLL term replaced by ours (`trl_with_our_nll`).
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from datasets import Dataset
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast, TrainerCallback
from trl_inputs import ModelShape, Pairs, TextPolicy, build_lm, char_tokenizer, engine_batch, text_dataset

from synpo_bench.api.losses import get_loss
from synpo_bench.budgets import Budget
from synpo_bench.optimizer import adamw
from synpo_bench.train import LiveReference, TrainOutcome, TrainSettings, lr_factor, train_cell

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # CPOTrainer and ORPOTrainer live in trl.experimental


@dataclass(frozen=True)
class SharedLoss:
    """One of our losses and the TRL trainer and settings that compute the same thing."""

    name: str
    params: dict[str, float]
    trainer: str
    """"dpo" (DPOTrainer), "cpo" or "orpo" (trl.experimental)."""
    trl: dict[str, Any]
    note: str
    nll_weight: float = 0.0
    """Weight of the chosen-NLL term whose averaging differs (CPO's alpha, ORPO's 1)."""


SHARED: tuple[SharedLoss, ...] = (
    SharedLoss("dpo", {"beta": 0.1}, "dpo", {"loss_type": ["sigmoid"], "beta": 0.1}, "summed log-probs"),
    SharedLoss(
        "ipo",
        {"tau": 0.1},
        "dpo",
        {"loss_type": ["ipo"], "beta": 0.1},
        "TRL's beta is IPO's tau; both token-averaged",
    ),
    SharedLoss("nca", {"beta": 0.1}, "dpo", {"loss_type": ["nca_pair"], "beta": 0.1}, "paired form"),
    SharedLoss("apo_zero", {"beta": 0.1}, "dpo", {"loss_type": ["apo_zero"], "beta": 0.1}, ""),
    SharedLoss(
        "hinge",
        {"delta": 1.0, "lam": 0.0},
        "cpo",
        {"loss_type": "hinge", "beta": 1.0, "cpo_alpha": 0.0},
        "reference-free SLiC: CPOTrainer's, beta=1 <-> delta=1 (DPOTrainer's hinge is reference-relative)",
    ),
    SharedLoss(
        "simpo",
        {"beta": 2.0, "gamma": 1.0},
        "cpo",
        {"loss_type": "simpo", "beta": 2.0, "simpo_gamma": 1.0, "cpo_alpha": 0.0},
        "CPOConfig's simpo_gamma defaults to 0.5, ours to 1.0",
    ),
    SharedLoss(
        "cpo",
        {"beta": 0.1, "alpha": 1.0},
        "cpo",
        {"loss_type": "sigmoid", "beta": 0.1, "cpo_alpha": 1.0},
        "NLL: TRL's mean over the batch's chosen tokens, ours the mean of per-response means",
        nll_weight=1.0,
    ),
    SharedLoss(
        "orpo",
        {"lam": 0.1},
        "orpo",
        {"beta": 0.1},
        "TRL's beta is ORPO's lambda; TRL's NLL covers prompt + response, averaged over the batch's tokens",
        nll_weight=1.0,
    ),
)
"""Not shared: sppo_hard and TRL's other DPO loss types (no loss of ours), cdpo (TRL 1.16's sigmoid
ignores label_smoothing; its 'robust' is another correction), TRL's 'sft' (a mean over the batch's
tokens), kto (KTOTrainer is unpaired), and rdpo, dpop, synpo (not in TRL)."""


def shared_loss(name: str) -> SharedLoss:
    for spec in SHARED:
        if spec.name == name:
            return spec
    raise KeyError(f"no shared loss '{name}'; shared: {', '.join(s.name for s in SHARED)}")


@dataclass(frozen=True)
class RunSettings:
    steps: int = 1
    lr: float = 1e-5
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    device: str = "cpu"
    bf16: bool = False

    def accelerator(self) -> Accelerator:
        return Accelerator(cpu=self.device == "cpu", mixed_precision="bf16" if self.bf16 else "no")

    def schedule(self, optimizer: torch.optim.Optimizer) -> LambdaLR:
        """The engine's schedule (train.lr_factor), also handed to TRL so both update alike."""
        warmup = math.ceil(self.warmup_ratio * self.steps)
        return LambdaLR(optimizer, lambda t: lr_factor(t + 1, warmup, self.steps))


@dataclass
class Setup:
    """Everything both sides start from: the start and the reference model, the pairs, their forms."""

    shape: ModelShape
    pairs: Pairs
    run: RunSettings
    start: LlamaForCausalLM
    reference: LlamaForCausalLM
    """Another seed than the start: with the start as its own reference the first batch of every
    reference loss is a constant (DPO's ln 2), which would check nothing of its formula."""
    tokenizer: PreTrainedTokenizerFast = field(init=False)
    data: Dataset = field(init=False)
    batch: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.tokenizer = char_tokenizer(self.shape)
        self.data = text_dataset(self.pairs)
        self.batch = engine_batch(self.pairs, self.shape)

    @classmethod
    def build(cls, shape: ModelShape, pairs: Pairs, run: RunSettings) -> Setup:
        device = torch.device(run.device)
        return cls(shape, pairs, run, build_lm(shape, 0).to(device), build_lm(shape, 1).to(device))


def _trl_classes(trainer: str) -> tuple[type, type]:
    if trainer == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOConfig, DPOTrainer
    if trainer == "cpo":
        from trl.experimental.cpo import CPOConfig, CPOTrainer

        return CPOConfig, CPOTrainer
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return ORPOConfig, ORPOTrainer


def trl_trainer(
    setup: Setup, spec: SharedLoss, output_dir: Path, callbacks: Sequence[TrainerCallback] = ()
) -> Any:
    """TRL's trainer for ``spec`` on a copy of the start; our optimizer (fused AdamW) and schedule, so the
    updates match (transformers' linear warm-up gives step 1 the rate 0)."""
    config_class, trainer_class = _trl_classes(spec.trainer)
    run = setup.run
    args = config_class(
        output_dir=str(output_dir),
        per_device_train_batch_size=len(setup.pairs),
        max_steps=run.steps,
        learning_rate=run.lr,
        max_grad_norm=run.max_grad_norm,
        bf16=run.bf16,
        use_cpu=run.device == "cpu",
        activation_checkpointing=False,  # TRL's configs turn it on; the engine does not checkpoint
        train_sampling_strategy="sequential",  # every step: all the pairs, in our order
        max_length=setup.pairs.longest_row,  # nothing truncated
        remove_unused_columns=False,
        report_to="none",
        save_strategy="no",
        logging_steps=max(run.steps, 1),
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
        **spec.trl,
    )
    model = copy.deepcopy(setup.start)
    optimizer = adamw([p for p in model.parameters() if p.requires_grad], lr=run.lr, weight_decay=0.0)
    kwargs: dict[str, Any] = {"ref_model": copy.deepcopy(setup.reference)} if spec.trainer == "dpo" else {}
    return trainer_class(
        model=model,
        args=args,
        train_dataset=setup.data,
        processing_class=setup.tokenizer,
        callbacks=list(callbacks),
        optimizers=(optimizer, run.schedule(optimizer)),
        **kwargs,
    )


def engine_train(
    setup: Setup,
    name: str,
    params: dict[str, float],
    *,
    steps: int | None = None,
    make_batches: Callable[[int], Iterable[dict[str, Any]]] | None = None,
    on_step: Callable[[int, dict[str, Any]], None] | None = None,
) -> TrainOutcome:
    """synpo-bench's engine on a copy of the start: ``steps`` (default ``setup.run.steps``) optimizer steps,
    each over all the pairs."""
    loss = get_loss(name, **params)
    policy = TextPolicy(copy.deepcopy(setup.start))
    reference = LiveReference(TextPolicy(setup.reference)) if loss.needs_reference else None
    batch = setup.batch
    with tempfile.TemporaryDirectory() as folder:
        return train_cell(
            policy=policy,
            loss=loss,
            make_batches=make_batches or (lambda epoch: [batch]),
            budget=Budget("steps", steps or setup.run.steps),
            settings=TrainSettings(
                batch_size=len(setup.pairs),
                lr=setup.run.lr,
                warmup_ratio=setup.run.warmup_ratio,
                max_grad_norm=setup.run.max_grad_norm,
            ),
            accelerator=setup.run.accelerator(),
            reference=reference,
            metrics_path=Path(folder) / "metrics.jsonl",
            on_step=on_step,
        )


@dataclass(frozen=True)
class FirstBatch:
    """The loss of both libraries on the first batch (all the pairs), before any update."""

    name: str
    ours: float
    trl: float
    trl_nll: float | None = None
    ours_nll: float | None = None
    nll_weight: float = 0.0

    @property
    def diff(self) -> float:
        return abs(self.ours - self.trl)

    @property
    def trl_with_our_nll(self) -> float:
        """TRL's loss with its NLL term (where its averaging differs) replaced by ours."""
        if self.trl_nll is None or self.ours_nll is None:
            return self.trl
        return self.trl + self.nll_weight * (self.ours_nll - self.trl_nll)


def trl_first_batch(setup: Setup, spec: SharedLoss) -> tuple[float, float | None]:
    """TRL's loss on its own collated first batch through its trainer's loss function (DPOTrainer's
    ``compute_loss``; CPO's and ORPO's ``get_batch_loss_metrics``, which also give their NLL term)."""
    with tempfile.TemporaryDirectory() as folder:
        trainer = trl_trainer(setup, spec, Path(folder))
        rows = [trainer.train_dataset[i] for i in range(len(setup.pairs))]
        device = trainer.args.device
        batch = {
            k: v.to(device) if isinstance(v, Tensor) else v for k, v in trainer.data_collator(rows).items()
        }
        trainer.model.train()
        with torch.no_grad(), trainer.compute_loss_context_manager():
            if spec.trainer == "dpo":
                return float(trainer.compute_loss(trainer.model, batch)), None
            loss, metrics = trainer.get_batch_loss_metrics(trainer.model, batch, "train")
            return float(loss), float(metrics["nll_loss"])


def ours_first_batch(setup: Setup, name: str, params: dict[str, float]) -> float:
    """Our engine's loss at its first step (computed before the update)."""
    return float(engine_train(setup, name, params, steps=1).history[0]["loss"])


def first_batch(setup: Setup, spec: SharedLoss, params: dict[str, float] | None = None) -> FirstBatch:
    """Both libraries' first-batch loss for ``spec`` (our hyper-parameters ``params`` if given)."""
    trl, trl_nll = trl_first_batch(setup, spec)
    ours = ours_first_batch(setup, spec.name, spec.params if params is None else params)
    if not spec.nll_weight:
        return FirstBatch(spec.name, ours, trl)
    ours_nll = ours_first_batch(setup, "sft", {})
    return FirstBatch(spec.name, ours, trl, trl_nll, ours_nll, spec.nll_weight)
