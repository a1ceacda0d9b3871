"""Where a run executes: the device it trains on and the versions and commit recorded in manifests."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import accelerate
import torch
import transformers

from synpo_bench import __version__
from synpo_bench.api.errors import UserError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def resolve_device(name: str) -> torch.device:
    """The device ``--device`` names, refused in one line unless this machine has it: a run must never
    train on one device while its manifest records another."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"--device '{name}': choose one of {DEVICE_CHOICES}")
    if device.type == "cuda":
        _check_cuda(name, device)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {name}: MPS (Apple GPU) is not available on this machine")
    return device


def _check_cuda(name: str, device: torch.device) -> None:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise UserError(f"--device {name}: no CUDA device is available on this machine")
    if device.index is not None and device.index >= count:
        raise UserError(
            f"--device {name}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )


def environment_versions() -> dict[str, str]:
    return {
        "synpo_bench": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
    }


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"
