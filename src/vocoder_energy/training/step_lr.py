"""Learning rates that change every optimizer step (Vocos' cosine, BigVGAN-v2's exponential decay).

``training.schedules`` steps once per epoch for every family; these recipes step per optimizer step.
The step count and the base rate live in the optimizer's own param groups, so a checkpoint (which saves
``optimizer.state_dict()``) resumes the schedule exactly where it was, with no scheduler object to save.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Factor = Callable[[int], float]


def exponential(gamma: float) -> Factor:
    """lr_k = lr_0 * gamma^k: ``torch.optim.lr_scheduler.ExponentialLR`` stepped after every step."""
    return lambda k: gamma**k


def cosine(total_steps: int, warmup_steps: int = 0) -> Factor:
    """Linear warm-up to lr_0 over ``warmup_steps``, then half a cosine down to 0 at ``total_steps``
    (and 0 after it): the cosine-with-warm-up schedule Vocos trains with, stepped every step."""

    def factor(k: int) -> float:
        if k < warmup_steps:
            return k / max(1, warmup_steps)
        # Clamped: past total_steps the rate stays 0 (transformers' formula would rise again; Lightning
        # stops the original's training at total_steps, a time budget may not).
        progress = min(1.0, (k - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def advance(optimizer: torch.optim.Optimizer, factor: Factor) -> float:
    """Set the learning rate of the step about to be taken (lr_0 x ``factor(k)``, k = steps taken so
    far) and count that step; returns the rate."""
    rate = 0.0
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        k = group.setdefault("lr_step", 0)
        rate = group["lr"] = group["initial_lr"] * factor(k)
        group["lr_step"] = k + 1
    return rate
