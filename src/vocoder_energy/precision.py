"""Numeric precision of training steps: fp32 (the paper's), bf16 or fp16 autocast; TF32 matmuls on CUDA.

bf16 has fp32's range and needs nothing more. fp16 does not: small gradients underflow to zero, so
its losses are scaled before backward by a gradient scaler (``Vocoder.optimise`` applies it), and a
step whose scaled gradients overflow is skipped while the scale backs off.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16", "fp16")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"training.precision: {precision!r} is not one of {', '.join(PRECISIONS)}")


def allow_tf32(device: torch.device) -> None:
    """TF32 tensor cores for fp32 matmuls/convolutions on Ampere+ GPUs (10-bit mantissa products)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def autocast(precision: str, device: torch.device):
    check(precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision])


def gradient_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A dynamic loss scaler for fp16 (initial scale 2^16, halved on overflow, doubled after 2000 good steps);
    a disabled one, which passes losses and steps through unchanged, for fp32 and bf16."""
    check(precision)
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
