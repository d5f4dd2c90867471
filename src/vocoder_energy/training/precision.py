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


class LossScaleWatch:
    """fp16's loss scale as training goes: updated once per step, logged, and its skipped steps counted.

    A step whose scaled gradients overflowed is skipped and halves the scale. A few at the start are
    normal; a scale that keeps falling means the model overflows in fp16 (the run then spends energy and
    learns nothing), so falling below ``FLOOR`` is logged as a warning.
    """

    FLOOR = 1.0

    def __init__(self, scaler: torch.amp.GradScaler, skipped_steps: int = 0, log=print):
        self.scaler, self.skipped_steps, self.log = scaler, skipped_steps, log
        self.warned = False

    def update(self) -> dict[str, float]:
        """``scaler.update()``; for fp16 also ``{"loss_scale": scale}`` for the loss log (else ``{}``)."""
        if not self.scaler.is_enabled():
            self.scaler.update()  # a no-op; kept so the call order is the same for every precision
            return {}
        before = self.scaler.get_scale()
        self.scaler.update()
        scale = self.scaler.get_scale()
        if scale < before:
            self.skipped_steps += 1
        if scale < self.FLOOR and not self.warned:
            self.warned = True
            self.log(
                f"WARNING: the fp16 loss scale fell to {scale:g} after {self.skipped_steps} skipped steps: the "
                "gradients overflow in fp16; train with training.precision: bf16 or fp32"
            )
        return {"loss_scale": scale}
