"""Loss curves of training runs: one figure per model (every loss it logs) and one overview of all.

Reads the loss logs the training jobs write (``training.loss_log``: step records with the family's
losses, and validation records with D_STFT and the generator's losses on held-out clips).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from vocoder_energy.training import loss_log  # noqa: E402

Series = tuple[np.ndarray, np.ndarray]  # (steps, values)


class LossLog:
    """One loss log: the training losses per step, and validation's D_STFT and held-out losses."""

    def __init__(self, path: str | Path):
        losses: dict[str, tuple[list, list]] = {}
        held_out: dict[str, tuple[list, list]] = {}
        d_stft: tuple[list, list] = ([], [])
        for record in loss_log.read(path):
            if loss_log.is_validation(record):
                _add(d_stft, record["step"], record[loss_log.D_STFT])
                for name, value in loss_log.held_out_losses(record).items():
                    _add(held_out.setdefault(name, ([], [])), record["step"], value)
            else:
                for name, value in loss_log.losses(record).items():
                    _add(losses.setdefault(name, ([], [])), record["step"], value)
        self.losses: dict[str, Series] = _as_arrays(losses)
        self.validation_d_stft: Series = (np.array(d_stft[0], dtype=int), np.array(d_stft[1], dtype=float))
        self.held_out_losses: dict[str, Series] = _as_arrays(held_out)


def _add(series: tuple[list, list], step: int, value: float | None) -> None:
    series[0].append(step)
    series[1].append(value)


def _as_arrays(series: dict[str, tuple[list, list]]) -> dict[str, Series]:
    return {key: (np.array(steps), np.array(values, dtype=float)) for key, (steps, values) in series.items()}


def main_loss(losses: dict) -> str | None:
    """The loss a family optimises overall: ``loss``, or the generator's for GANs."""
    for key in ("loss", "loss_g"):
        if key in losses:
            return key
    return next(iter(losses), None)


def smoothed(values: np.ndarray) -> np.ndarray:
    """Running mean over ~2 % of the run: the trend through noisy per-step losses."""
    window = max(1, len(values) // 50)
    if window == 1:
        return values
    kernel = np.ones(window) / window
    return np.convolve(np.pad(values, (window - 1, 0), mode="edge"), kernel, mode="valid")


def _curve(ax, steps: np.ndarray, values: np.ndarray, label: str, colour: str | None = None) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    if len(steps) <= 50:  # a short run: every step as a point (a single step draws no line)
        ax.plot(steps, values, "o-", ms=4, lw=1.2, color=colour, label=label)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        return
    line = ax.plot(steps, values, alpha=0.25, lw=0.8, color=colour)[0]
    ax.plot(steps, smoothed(values), lw=1.5, color=line.get_color(), label=label)
    ax.set_xlabel("step")
    ax.grid(True, alpha=0.3)


def _validation(ax, validation: tuple[np.ndarray, np.ndarray]) -> None:
    steps, d_stft = validation
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.plot(steps, d_stft, "o-", color="firebrick", ms=3, lw=1)
    ax.set_ylabel("validation D_STFT (lower is better)")


def model_figure(name: str, loss_log: str | Path, out_path: str | Path) -> None:
    """Every loss of one model against the step (raw, faint; smoothed, solid) with the same loss on the
    held-out clips (red points) where validation logged it, and validation D_STFT."""
    log = LossLog(loss_log)
    panels = list(log.losses) + (["validation"] if len(log.validation_d_stft[0]) else [])
    columns = min(3, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False, constrained_layout=True)
    for ax, panel in zip(axes.flat, panels):
        if panel == "validation":
            _validation(ax, log.validation_d_stft)
            ax.set_title("validation while training")
            ax.set_xlabel("step")
            ax.grid(True, alpha=0.3)
            continue
        _curve(ax, *log.losses[panel], "training batches")
        if panel in log.held_out_losses:
            ax.plot(*log.held_out_losses[panel], "s--", color="firebrick", ms=3, lw=0.8, label="held-out clips")
            ax.legend(fontsize="small")
        ax.set_title(panel)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if not panels:
        axes[0, 0].text(0.5, 0.5, "no steps logged", ha="center", va="center")
    fig.suptitle(f"{name}: training losses")
    fig.savefig(out_path, dpi=120)
    plt.close(fig)


def overview_figure(logs: dict[str, str | Path], out_paths: list[str | Path]) -> None:
    """One small panel per model: its main loss (and validation D_STFT on the right axis)."""
    columns = min(3, max(1, len(logs)))
    rows = max(1, math.ceil(len(logs) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.0 * rows), squeeze=False, constrained_layout=True)
    for ax, (name, path) in zip(axes.flat, logs.items()):
        log = LossLog(path)
        key = main_loss(log.losses)
        if key is not None:
            _curve(ax, *log.losses[key], key, colour="#1f3b8f")
            ax.set_ylabel(key)
        if len(log.validation_d_stft[0]):
            _validation(ax.twinx(), log.validation_d_stft)
        ax.set_title(name)
    for ax in list(axes.flat)[len(logs) :]:
        ax.axis("off")
    fig.suptitle("Training losses (blue: main loss, smoothed; red: validation D_STFT)")
    for path in out_paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
