"""The training loop: a budget in steps and/or seconds, periodic checkpoints, exact resume.

Checkpoints live outside the workflow's declared outputs (Snakemake deletes those before a job runs),
keyed by a fingerprint of everything that defines the run except its budget: a killed job resumes
where it stopped, and a larger budget continues the same run.
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vocoder_energy.core.files import write_durably
from vocoder_energy.cost.meters import find_meter
from vocoder_energy.data import audio as _audio
from vocoder_energy.data.corpus import file_sha256
from vocoder_energy.data.features import load_split
from vocoder_energy.models import Vocoder, base, build_vocoder
from vocoder_energy.models.generator_files import save_generator
from vocoder_energy.training import precision, schedules
from vocoder_energy.training.batch_size import resolve_batch_size, search_batch_size
from vocoder_energy.training.checkpoints import load_checkpoint, save_checkpoint
from vocoder_energy.training.energy import TrainingEnergy
from vocoder_energy.training.monitoring import TensorBoard, Validation


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


# Settings that do not change what is trained: excluded from a run's fingerprint.
OPERATIONAL_SETTINGS = (
    "max_steps",
    "max_seconds",
    "checkpoint_every_seconds",
    "validation_every_seconds",
    "validation_clips",
)


class Interrupted(RuntimeError):
    """Training stopped by a signal after saving a checkpoint; rerunning the job resumes it."""


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def fingerprint(*parts: Any) -> str:
    """Short stable hash of JSON-serialisable parts."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def batch_indices(seed: int, step: int, n_items: int, batch_size: int) -> torch.Tensor:
    """The items of step ``step``: a pure function of (seed, step), so a resumed run sees the same data."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return torch.randint(n_items, (min(batch_size, n_items),), generator=generator)


def train(
    model: Vocoder,
    audio: np.ndarray,
    mel: np.ndarray,
    settings: TrainingSettings,
    checkpoint: str | Path,
    loss_log: str | Path,
    device: torch.device | None = None,
    meter: Any = "find",
    assumed_watts: float = 300.0,
    carbon_intensity_kg_per_kwh: float = 0.7,
    batch_search: Callable[[], int] | None = None,
    validation: Validation | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train ``model`` within the budget; resumes from ``checkpoint`` if it exists. Returns a summary.

    ``meter``: an energy meter (``energy.find_meter``'s surface), None for ``estimated``, or "find".
    ``batch_search``: what ``batch_size: auto`` runs (default: the CUDA search on CUDA, none elsewhere).
    ``validation``: run when due (training seconds), logged in the loss log as ``val_*`` records.
    """
    device = device or pick_device()
    checkpoint, loss_log = Path(checkpoint), Path(loss_log)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    audio_t, mel_t = torch.from_numpy(audio), torch.from_numpy(mel)
    precision.allow_tf32(device)
    state = load_checkpoint(checkpoint, log)
    if state is not None:
        batch_size = state["batch_size"]  # part of the run: kept on resume, even on another GPU
    else:
        if batch_search is None and device.type == "cuda":

            def batch_search() -> int:
                return search_batch_size(model, audio_t, mel_t, device, settings.precision, log)

        batch_size = resolve_batch_size(settings.batch_size, settings.auto_batch_fallback, batch_search)
    log(f"batch size {batch_size} ({settings.batch_size} requested), precision {settings.precision}, device {device}")
    audio_t, mel_t = _on_device_if_it_fits(device, audio_t, mel_t)
    model.to(device)
    model.train()
    model.setup_training()
    model.grad_scaler = precision.gradient_scaler(settings.precision, device)
    schedulers = schedules.build_schedulers(model.family, model.optimizers, settings.lr_schedule)
    epoch_steps = schedules.steps_per_epoch(len(audio_t), batch_size)
    step, elapsed, resumed_from = 0, 0.0, None
    if state is not None:
        # On the CPU first: RNG states must stay CPU tensors; weights and optimizer states are
        # copied to the model's device by load_state_dict.
        model.load_state_dict(state["model"])
        for optimizer, optimizer_state in zip(model.optimizers, state["optimizers"]):
            optimizer.load_state_dict(optimizer_state)
        for scheduler, scheduler_state in zip(schedulers, state["schedulers"]):
            scheduler.load_state_dict(scheduler_state)
        if state.get("grad_scaler"):
            model.grad_scaler.load_state_dict(state["grad_scaler"])  # fp16's loss scale goes on where it was
        step, elapsed, resumed_from = state["step"], state["elapsed_seconds"], state["step"]
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        _truncate_loss_log(loss_log, step)  # steps logged after the checkpoint will be redone
    else:
        torch.manual_seed(settings.seed)
        loss_log.unlink(missing_ok=True)
    meter = find_meter(device) if meter == "find" else meter
    loss_scale = precision.LossScaleWatch(model.grad_scaler, state.get("fp16_skipped_steps", 0) if state else 0, log)
    energy = TrainingEnergy(meter, assumed_watts, state.get("energy") if state else None)

    def save() -> None:
        energy.update()
        save_checkpoint(
            {
                "model": model.state_dict(),
                "optimizers": [o.state_dict() for o in model.optimizers],
                "schedulers": [s.state_dict() for s in schedulers],
                "grad_scaler": model.grad_scaler.state_dict(),
                "fp16_skipped_steps": loss_scale.skipped_steps,
                "step": step,
                "elapsed_seconds": elapsed,
                "batch_size": batch_size,
                "energy": energy.state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
            checkpoint,
        )

    stop_signal: list[int] = []
    previous = {
        s: signal.signal(s, lambda signum, _frame: stop_signal.append(signum)) for s in (signal.SIGTERM, signal.SIGINT)
    }
    losses: dict[str, float] = {}
    bar = tqdm(
        total=settings.max_steps,
        initial=step,
        desc=f"train {model.family}",
        unit=" steps",
        bar_format=None if settings.max_steps else "{desc}: {n} steps [{elapsed}, {rate_fmt}]{postfix}",
    )
    last_save = time.monotonic()
    if validation:
        validation.last_seconds = elapsed  # the interval counts from (re)start
    board = TensorBoard(checkpoint.parent / "tensorboard")
    try:
        with open(loss_log, "a") as log_file:
            while not _budget_spent(settings, step, elapsed):
                started = time.monotonic()
                index = batch_indices(settings.seed, step, len(audio_t), batch_size)
                with precision.autocast(settings.precision, device):
                    losses = model.training_step(
                        audio_t[index.to(audio_t.device)].to(device), mel_t[index.to(mel_t.device)].to(device)
                    )
                losses.update(loss_scale.update())  # once per step, after every optimizer of the step
                step += 1
                if step % epoch_steps == 0:
                    for scheduler in schedulers:
                        scheduler.step()
                elapsed += time.monotonic() - started  # the losses are floats: the step has synchronised
                logged = {name: value if math.isfinite(value) else None for name, value in losses.items()}
                log_file.write(json.dumps({"step": step, "seconds": round(elapsed, 3), **logged}) + "\n")
                bar.update(1)
                board.record({"step": step, **losses})
                if validation and validation.due(elapsed):
                    record = validation.run(model, step, elapsed, device)
                    log_file.write(json.dumps(record) + "\n")
                    board.record(record)
                shown = {k: f"{v:.3g}" for k, v in losses.items()}
                if validation and validation.last_d_stft is not None:
                    shown["val D_STFT"] = f"{validation.last_d_stft:.3g}"
                bar.set_postfix({**shown, "left": _budget_left(settings, step, elapsed)})
                if stop_signal:
                    log_file.flush()
                    save()
                    raise Interrupted(f"signal {stop_signal[0]} at step {step}; checkpoint saved to {checkpoint}")
                if time.monotonic() - last_save >= settings.checkpoint_every_seconds:
                    log_file.flush()
                    save()
                    last_save = time.monotonic()
        save()
    finally:
        bar.close()
        board.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return {
        "family": model.family,
        "steps": step,
        "train_seconds": round(elapsed, 3),
        "resumed_from_step": resumed_from,
        "final_losses": losses or _last_losses(loss_log),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "batch_size": batch_size,
        "epochs": step / epoch_steps,
        "learning_rates": [group["lr"] for o in model.optimizers for group in o.param_groups],
        "grad_scale": model.grad_scaler.get_scale() if model.grad_scaler.is_enabled() else None,  # fp16 only
        "fp16_skipped_steps": loss_scale.skipped_steps if model.grad_scaler.is_enabled() else None,
        "energy": energy.report(carbon_intensity_kg_per_kwh),
        "last_validation_d_stft": _last_validation(loss_log),
        "settings": asdict(settings),
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


def _budget_left(settings: TrainingSettings, step: int, elapsed: float) -> str:
    parts = []
    if settings.max_steps is not None:
        parts.append(f"{settings.max_steps - step} steps")
    if settings.max_seconds is not None:
        parts.append(f"{max(0.0, settings.max_seconds - elapsed) / 3600:.2f} h")
    return " / ".join(parts)


def _budget_spent(settings: TrainingSettings, step: int, elapsed: float) -> bool:
    return (settings.max_steps is not None and step >= settings.max_steps) or (
        settings.max_seconds is not None and elapsed >= settings.max_seconds
    )


def _truncate_loss_log(loss_log: Path, step: int) -> None:
    """Keep the records up to ``step``: a hard kill can leave steps newer than the last checkpoint."""
    if loss_log.exists():
        lines = [line for line in loss_log.read_text().splitlines() if line.strip()]
        kept = [line for line in lines if json.loads(line)["step"] <= step]
        loss_log.write_text("".join(line + "\n" for line in kept))


def _last_losses(loss_log: Path) -> dict[str, float]:
    """Losses of the last logged step (when a resumed run had nothing left to do)."""
    if not loss_log.exists():
        return {}
    lines = loss_log.read_text().splitlines()
    if not lines:
        return {}
    steps = (r for r in map(json.loads, reversed(lines)) if not any(k.startswith("val_") for k in r))
    record = next(steps, {})
    return {k: v for k, v in record.items() if k not in ("step", "seconds")}


def _last_validation(loss_log: Path) -> float | None:
    records = [json.loads(line) for line in loss_log.read_text().splitlines() if "val_d_stft" in line]
    return records[-1]["val_d_stft"] if records else None


# ------------------------------------------------------------------ generator files
def run_training_job(
    family: str,
    size: str,
    hyperparameters: dict,
    settings: TrainingSettings,
    train_features: str | Path,
    generator_out: str | Path,
    summary_out: str | Path,
    losses_out: str | Path,
    checkpoint_root: str | Path,
    validation_features: str | Path | None = None,
    **train_options: Any,
) -> dict[str, Any]:
    """One ``{family}_{size}`` job of the workflow: train, then write the generator, summary and loss log.

    ``validation_features``: held-out clips to validate on every ``settings.validation_every_seconds``.

    ``train_options`` go to ``train`` (device, meter, assumed_watts, carbon_intensity_kg_per_kwh, ...).
    """
    audio, mel, _ = load_split(train_features)
    torch.manual_seed(settings.seed)  # the initial weights are part of the run
    model = build_vocoder(family, size, **hyperparameters)
    # Everything that defines the run except its budget and checkpoint interval: a larger budget
    # continues the same run, while new data, settings or training code start a new one.
    science = {k: v for k, v in asdict(settings).items() if k not in OPERATIONAL_SETTINGS}
    modules = (
        type(model).__module__,
        base.__name__,
        __name__,
        _audio.__name__,
        schedules.__name__,
        precision.__name__,
    )
    code = [file_sha256(sys.modules[m].__file__) for m in modules]
    key = fingerprint(family, size, hyperparameters, science, file_sha256(train_features), code)
    run_dir = Path(checkpoint_root) / f"{family}_{size}-{key}"
    validation = None
    if validation_features is not None and settings.validation_every_seconds is not None:
        held_out_audio, held_out_mel, _ = load_split(validation_features)
        validation = Validation(
            held_out_audio,
            held_out_mel,
            settings.validation_every_seconds,
            run_dir / "validation",
            model.sample_rate,
            settings.validation_clips,
            settings.seed,
        )
    checkpoint, loss_log = run_dir / "checkpoint.pt", run_dir / "losses.jsonl"
    summary = train(model, audio, mel, settings, checkpoint, loss_log, validation=validation, **train_options)
    summary.update(size=size, hyperparameters=hyperparameters, checkpoint=str(checkpoint))
    save_generator(model, size, hyperparameters, generator_out)
    write_durably((run_dir / "losses.jsonl").read_bytes(), losses_out)
    write_durably(json.dumps(summary, indent=2).encode(), summary_out)
    return summary
