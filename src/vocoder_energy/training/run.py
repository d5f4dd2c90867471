"""A training run: its settings, its state (model, optimizers, schedulers, step, training seconds, batch
size, energy, fp16 loss scale), one training step, its checkpoint and its summary.

Everything the run needs to continue bit for bit is in its checkpoint: a run started again from it
draws the same batches (``batch_indices`` is a pure function of seed and step), restores every random
generator, and logs on where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vocoder_energy.cost.meters import find_meter
from vocoder_energy.models import Vocoder
from vocoder_energy.training import precision, schedules
from vocoder_energy.training.batch_size import resolve_batch_size, search_batch_size
from vocoder_energy.training.checkpoints import load_checkpoint, save_checkpoint
from vocoder_energy.training.energy import TrainingEnergy
from vocoder_energy.training.loss_log import last_losses, last_validation_d_stft, truncate_after


@dataclass(frozen=True)
class TrainingSettings:
    batch_size: int | str = 16  # or "auto": see batch_size.py
    max_steps: int | None = None
    max_seconds: float | None = None
    checkpoint_every_seconds: float = 600.0
    seed: int = 0
    auto_batch_fallback: int = 16  # what "auto" means without CUDA
    precision: str = "fp32"
    lr_schedule: str = "recipe"
    validation_every_seconds: float | None = None  # None: no validation while training
    validation_clips: int = 4

    def __post_init__(self):
        if self.max_steps is None and self.max_seconds is None:
            raise ValueError("training: set max_steps and/or max_seconds (a budget is required)")
        if self.batch_size != "auto" and not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ValueError(f"training.batch_size: {self.batch_size!r} - use a positive integer or auto")


# Settings that do not change what is trained: excluded from a run's key.
OPERATIONAL_SETTINGS = (
    "max_steps",
    "max_seconds",
    "checkpoint_every_seconds",
    "validation_every_seconds",
    "validation_clips",
)


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def batch_indices(seed: int, step: int, n_items: int, batch_size: int) -> torch.Tensor:
    """The items of step ``step``: a pure function of (seed, step), so a resumed run sees the same data."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return torch.randint(n_items, (min(batch_size, n_items),), generator=generator)


class TrainingRun:
    """One run of ``model`` on a training split, checkpointed to ``checkpoint``, logged to ``loss_log``.

    ``start_or_resume()`` sets it up (from the checkpoint when there is one); then ``train_step()`` until
    ``budget_spent()``, ``save()`` now and then, and ``summary()`` at the end.

    ``meter``: an energy meter (``cost.meters.find_meter``'s surface), None for ``estimated``, or "find".
    ``batch_search``: what ``batch_size: auto`` runs (default: the CUDA search on CUDA, none elsewhere).
    """

    def __init__(
        self,
        model: Vocoder,
        audio: np.ndarray,
        mel: np.ndarray,
        settings: TrainingSettings,
        checkpoint: str | Path,
        loss_log: str | Path,
        device: torch.device | None = None,
        meter: Any = "find",
        assumed_watts: float = 300.0,
        batch_search: Callable[[], int] | None = None,
        log: Callable[[str], None] = print,
    ):
        self.model, self.settings, self.log = model, settings, log
        self.device = device or pick_device()
        self.checkpoint, self.loss_log = Path(checkpoint), Path(loss_log)
        self.audio, self.mel = torch.from_numpy(audio), torch.from_numpy(mel)
        self._meter, self._assumed_watts, self._batch_search = meter, assumed_watts, batch_search
        self.step, self.elapsed = 0, 0.0  # training seconds: time spent in steps, summed across restarts
        self.last_step_seconds: float | None = None  # predicts the next step's length (the time budget)
        self.resumed_from: int | None = None
        self.losses: dict[str, float] = {}  # of the last step this process ran
        self.batch_size: int | None = None
        self.schedulers: list = []
        self.epoch_steps = 1
        self.loss_scale: precision.LossScaleWatch | None = None
        self.energy: TrainingEnergy | None = None

    # -------------------------------------------------------------- set-up
    def start_or_resume(self) -> TrainingRun:
        """Start the run, or resume it from its checkpoint: model, optimizers, schedulers, loss scale,
        step, training seconds, batch size, energy and random generators as they were saved."""
        model, settings, device = self.model, self.settings, self.device
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        precision.allow_tf32(device)
        state = load_checkpoint(self.checkpoint, self.log)
        # The batch size is part of the run: kept on resume, even on another GPU.
        self.batch_size = state["batch_size"] if state is not None else self._first_batch_size()
        self.log(
            f"batch size {self.batch_size} ({settings.batch_size} requested), precision {settings.precision}, "
            f"device {device}"
        )
        self.audio, self.mel = _on_device_if_it_fits(device, self.audio, self.mel)
        model.to(device)
        model.train()
        model.setup_training()
        model.grad_scaler = precision.gradient_scaler(settings.precision, device)
        self.schedulers = schedules.build_schedulers(model.family, model.optimizers, settings.lr_schedule)
        self.epoch_steps = schedules.steps_per_epoch(len(self.audio), self.batch_size)
        if state is not None:
            self._restore(state)
            truncate_after(self.loss_log, self.step)  # steps logged after the checkpoint are redone
        else:
            torch.manual_seed(settings.seed)
            self.loss_log.unlink(missing_ok=True)
        meter = find_meter(device) if self._meter == "find" else self._meter
        skipped = state.get("fp16_skipped_steps", 0) if state else 0
        self.loss_scale = precision.LossScaleWatch(model.grad_scaler, skipped, self.log)
        self.energy = TrainingEnergy(meter, self._assumed_watts, state.get("energy") if state else None)
        return self

    def _first_batch_size(self) -> int:
        search = self._batch_search
        if search is None and self.device.type == "cuda":

            def search() -> int:
                return search_batch_size(
                    self.model, self.audio, self.mel, self.device, self.settings.precision, self.log
                )

        return resolve_batch_size(self.settings.batch_size, self.settings.auto_batch_fallback, search)

    def _restore(self, state: dict) -> None:
        # On the CPU first: RNG states must stay CPU tensors; weights and optimizer states are copied to
        # the model's device by load_state_dict.
        model = self.model
        model.load_state_dict(state["model"])
        for optimizer, optimizer_state in zip(model.optimizers, state["optimizers"]):
            optimizer.load_state_dict(optimizer_state)
        for scheduler, scheduler_state in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(scheduler_state)
        if state.get("grad_scaler"):
            model.grad_scaler.load_state_dict(state["grad_scaler"])  # fp16's loss scale goes on where it was
        self.step, self.elapsed, self.resumed_from = state["step"], state["elapsed_seconds"], state["step"]
        self.last_step_seconds = state.get("last_step_seconds")
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    # -------------------------------------------------------------- training
    def train_step(self) -> dict[str, float]:
        """One optimisation step on the step's batch; returns its losses (plus fp16's ``loss_scale``)."""
        started = time.monotonic()
        index = batch_indices(self.settings.seed, self.step, len(self.audio), self.batch_size)
        audio, mel = self.audio[index.to(self.audio.device)], self.mel[index.to(self.mel.device)]
        with precision.autocast(self.settings.precision, self.device):
            losses = self.model.training_step(audio.to(self.device), mel.to(self.device))
        losses.update(self.loss_scale.update())  # once per step, after every optimizer of the step
        self.step += 1
        if self.step % self.epoch_steps == 0:
            for scheduler in self.schedulers:
                scheduler.step()
        self.last_step_seconds = time.monotonic() - started  # the losses are floats: the step has synchronised
        self.elapsed += self.last_step_seconds
        self.losses = losses
        return losses

    def budget_spent(self) -> bool:
        return self.stopped_by() is not None

    def stopped_by(self) -> str | None:
        """Which budget ends the run now, or None. A step is not started when one as long as the last
        would end past ``max_seconds``: the budget holds even when a step takes a good part of it."""
        settings = self.settings
        if settings.max_steps is not None and self.step >= settings.max_steps:
            return "max_steps"
        if settings.max_seconds is None:
            return None
        if self.elapsed >= settings.max_seconds:
            return "max_seconds"
        if self.last_step_seconds is not None and self.elapsed + self.last_step_seconds > settings.max_seconds:
            return "max_seconds (the next step would end past it)"
        return None

    def budget_left(self) -> str:
        parts = []
        if self.settings.max_steps is not None:
            parts.append(f"{self.settings.max_steps - self.step} steps")
        if self.settings.max_seconds is not None:
            parts.append(f"{max(0.0, self.settings.max_seconds - self.elapsed) / 3600:.2f} h")
        return " / ".join(parts)

    # -------------------------------------------------------------- checkpoint and summary
    def checkpoint_state(self) -> dict[str, Any]:
        """Everything a resumed run needs to go on exactly where this one is."""
        model = self.model
        return {
            "model": model.state_dict(),
            "optimizers": [o.state_dict() for o in model.optimizers],
            "schedulers": [s.state_dict() for s in self.schedulers],
            "grad_scaler": model.grad_scaler.state_dict(),
            "fp16_skipped_steps": self.loss_scale.skipped_steps,
            "step": self.step,
            "elapsed_seconds": self.elapsed,
            "last_step_seconds": self.last_step_seconds,
            "batch_size": self.batch_size,
            "energy": self.energy.state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def save(self) -> None:
        """Checkpoint the run now (the energy counted up to this moment)."""
        self.energy.update()
        save_checkpoint(self.checkpoint_state(), self.checkpoint)

    def summary(self, carbon_intensity_kg_per_kwh: float) -> dict[str, Any]:
        model, device, fp16 = self.model, self.device, self.model.grad_scaler.is_enabled()
        return {
            "family": model.family,
            "steps": self.step,
            "train_seconds": round(self.elapsed, 3),
            "stopped_by": self.stopped_by(),
            "resumed_from_step": self.resumed_from,
            # A resumed run with no step left to do reports the last ones logged.
            "final_losses": self.losses or last_losses(self.loss_log),
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "batch_size": self.batch_size,
            "epochs": self.step / self.epoch_steps,
            "learning_rates": [group["lr"] for o in model.optimizers for group in o.param_groups],
            "grad_scale": model.grad_scaler.get_scale() if fp16 else None,
            "fp16_skipped_steps": self.loss_scale.skipped_steps if fp16 else None,
            "energy": self.energy.report(carbon_intensity_kg_per_kwh),
            "last_validation_d_stft": last_validation_d_stft(self.loss_log),
            "settings": asdict(self.settings),
            "num_parameters": model.num_parameters(),
        }


def _on_device_if_it_fits(device: torch.device, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The training split on the GPU (no host-to-device copy per step), or left in host memory."""
    if device.type != "cuda":
        return tensors
    try:
        return tuple(t.to(device) for t in tensors)
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        return tensors
