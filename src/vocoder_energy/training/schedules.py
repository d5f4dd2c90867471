"""Learning-rate schedules of the recipes the paper follows, stepped once per epoch.

An epoch is one pass over the training split at the run's batch size (``steps_per_epoch``).
``recipe``: the family's own (WaveGrad: x0.9 every 10 epochs, as the authors' code; others constant,
as their papers' main recipes); ``exponential``: x0.999 per epoch for every optimizer (HiFi-GAN's);
``constant``: none.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("recipe", "exponential", "constant")


def steps_per_epoch(n_items: int, batch_size: int) -> int:
    return max(1, math.ceil(n_items / batch_size))


def build_schedulers(family: str, optimizers: list, schedule: str) -> list:
    if schedule not in SCHEDULES:
        raise ValueError(f"training.lr_schedule: {schedule!r} is not one of {', '.join(SCHEDULES)}")
    if schedule == "exponential":
        return [torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.999) for o in optimizers]
    if schedule == "recipe" and family == "wavegrad":
        return [torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.9) for o in optimizers]
    return []
