"""Numeric precision of training steps: fp32 (the paper's) or bf16 autocast; TF32 matmuls on CUDA.

fp16 would need a gradient scaler inside each family's ``training_step`` (the families own their
backward passes); bf16 has fp32's range and needs none.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16")


def allow_tf32(device: torch.device) -> None:
    """TF32 tensor cores for fp32 matmuls/convolutions on Ampere+ GPUs (10-bit mantissa products)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def autocast(precision: str, device: torch.device):
    if precision not in PRECISIONS:
        raise ValueError(f"training.precision: {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
