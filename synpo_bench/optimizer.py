"""The one optimizer every training loop of the harness uses (the warm start's SFT and every loss's cell)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

_FUSED_DEVICES = ("cpu", "cuda")
_FUSED_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


def adamw(
    params: Sequence[torch.nn.Parameter],
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel where every parameter allows it (floating point, on the CPU or a CUDA
    device), else torch's default. Fused updates all parameters in one kernel instead of a loop of
    per-tensor operations: the same update up to float rounding (about 1e-7 here), 1.4 -> 0.4 ms per step
    on the tiny default's 0.57 M parameters on two CPU cores, more on a GPU with many tensors."""
    fused = bool(params) and all(p.device.type in _FUSED_DEVICES and p.dtype in _FUSED_DTYPES for p in params)
    return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused or None)
