"""Loss curves of training runs: one figure per model (every loss it logs) and one overview of all.

Reads the loss logs the training jobs write (JSON lines: ``step``, ``seconds``, the family's losses,
and ``val_d_stft`` records from validation while training).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

VALIDATION_KEY = "val_d_stft"


def read_loss_log(path: str | Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    """({loss: (steps, values)}, (validation steps, D_STFT)) of one loss log."""
    losses: dict[str, tuple[list, list]] = {}
    validation: tuple[list, list] = ([], [])
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if VALIDATION_KEY in record:
            validation[0].append(record["step"])
            validation[1].append(record[VALIDATION_KEY])
            continue
        for key, value in record.items():
            if key not in ("step", "seconds"):
                losses.setdefault(key, ([], []))
                losses[key][0].append(record["step"])
                losses[key][1].append(value)
    as_arrays = {k: (np.array(s), np.array(v, dtype=float)) for k, (s, v) in losses.items()}
    return as_arrays, (np.array(validation[0]), np.array(validation[1], dtype=float))


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
    ax.plot(steps, d_stft, "o-", color="firebrick", ms=3, lw=1)
    ax.set_ylabel("validation D_STFT (lower is better)")


def model_figure(name: str, loss_log: str | Path, out_path: str | Path) -> None:
    """Every loss of one model against the step (raw, faint; smoothed, solid), and validation D_STFT."""
    losses, validation = read_loss_log(loss_log)
    panels = list(losses) + (["validation"] if len(validation[0]) else [])
    columns = min(3, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False, constrained_layout=True)
    for ax, panel in zip(axes.flat, panels):
        if panel == "validation":
            _validation(ax, validation)
            ax.set_title("validation while training")
            ax.set_xlabel("step")
            ax.grid(True, alpha=0.3)
        else:
            _curve(ax, *losses[panel], panel)
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
        losses, validation = read_loss_log(path)
        key = main_loss(losses)
        if key is not None:
            _curve(ax, *losses[key], key, colour="#1f3b8f")
            ax.set_ylabel(key)
        if len(validation[0]):
            _validation(ax.twinx(), validation)
        ax.set_title(name)
    for ax in list(axes.flat)[len(logs) :]:
        ax.axis("off")
    fig.suptitle("Training losses (blue: main loss, smoothed; red: validation D_STFT)")
    for path in out_paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
