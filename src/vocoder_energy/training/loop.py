"""The training loop: steps until the budget (steps and/or training seconds) is spent, each logged;
validation when due; a checkpoint every ``checkpoint_every_seconds``, at the end, and on SIGTERM or SIGINT
(then ``Interrupted``). What a run is and how it resumes is ``run.TrainingRun``; the workflow's job
around it (run directory, outputs) is ``job``.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from typing import Any

from tqdm import tqdm

from vocoder_energy.training.loss_log import LossLogWriter, step_record
from vocoder_energy.training.monitoring import TensorBoard, Validation
from vocoder_energy.training.run import TrainingRun

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(RuntimeError):
    """Training stopped by a signal after saving a checkpoint; rerunning the job resumes it."""


def train(
    *run_args: Any,
    validation: Validation | None = None,
    carbon_intensity_kg_per_kwh: float = 0.7,
    **run_options: Any,
) -> dict[str, Any]:
    """Train within the budget, resuming from the checkpoint if it exists; returns the run's summary.

    ``run_args``/``run_options``: those of ``TrainingRun`` (model, audio, mel, settings, checkpoint,
    loss log, then device, meter, ...). ``validation``: run when due (training seconds), logged in the
    loss log as validation records.
    """
    run = TrainingRun(*run_args, **run_options).start_or_resume()
    if validation:
        validation.last_seconds = run.elapsed  # the interval counts from (re)start
    with stop_signals() as stop, progress_bar(run) as bar, TensorBoard(run.checkpoint.parent / "tensorboard") as board:
        with LossLogWriter(run.loss_log) as records:
            last_save = time.monotonic()
            while not run.budget_spent():
                losses = run.train_step()
                records.write(step_record(run.step, run.elapsed, losses))
                bar.update(1)
                board.record({"step": run.step, **losses})
                if validation and validation.due(run.elapsed):
                    check = validation.run(run.model, run.step, run.elapsed, run.device)
                    records.write(check)
                    board.record(check)
                bar.set_postfix(shown(run, losses, validation))
                if stop:
                    records.flush()  # the log holds every step the checkpoint holds
                    run.save()
                    raise Interrupted(f"signal {stop[0]} at step {run.step}; checkpoint saved to {run.checkpoint}")
                # Due on the last step: the final save right below is that checkpoint (a big model's is GBs).
                if time.monotonic() - last_save >= run.settings.checkpoint_every_seconds and not run.budget_spent():
                    records.flush()
                    run.save()
                    last_save = time.monotonic()
        run.save()
    return run.summary(carbon_intensity_kg_per_kwh)


@contextlib.contextmanager
def stop_signals() -> Iterator[list[int]]:
    """SIGTERM (a cluster's walltime) and SIGINT (Ctrl-C) noted in the list instead of ending the process
    at once: the loop saves a checkpoint after the step, then stops. The previous handlers come back after."""
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signum)) for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def progress_bar(run: TrainingRun) -> tqdm:
    steps = run.settings.max_steps
    return tqdm(
        total=steps,
        initial=run.step,
        desc=f"train {run.model.family}",
        unit=" steps",
        bar_format=None if steps else "{desc}: {n} steps [{elapsed}, {rate_fmt}]{postfix}",
    )


def shown(run: TrainingRun, losses: dict[str, float], validation: Validation | None) -> dict[str, str]:
    """The progress bar's postfix: the step's losses, the last validation's D_STFT, the budget left."""
    postfix = {name: f"{value:.3g}" for name, value in losses.items()}
    if validation and validation.last_d_stft is not None:
        postfix["val D_STFT"] = f"{validation.last_d_stft:.3g}"
    return {**postfix, "left": run.budget_left()}
