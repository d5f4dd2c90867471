"""Pareto figures: quality against cost, one panel per cost (GFLOPs, energy), the front circled in red."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

FAMILY_MARKERS = {"melgan": "o", "hifigan": "s", "waveglow": "^", "waveflow": "v", "wavegrad": "D", "diffwave": "P"}
SIZE_COLOURS = {"S": "#9ad18b", "M": "#3a9bbf", "L": "#1f3b8f"}  # light green to dark blue, as the paper


def _panel(ax, rows: list[dict], cost_key: str, front_key: str, cost_label: str) -> None:
    """One scatter of D_STFT against a cost; the front is the summary's own flag column."""
    plotted = [r for r in rows if np.isfinite(float(r["d_stft"])) and np.isfinite(float(r[cost_key]))]
    left_out = [f"{r['model']} {r['size']}" for r in rows if r not in plotted]
    if not plotted:  # e.g. net energy where every row's energy could only be estimated (no idle baseline)
        ax.set_title(f"nothing to plot (no finite value): {', '.join(left_out)}", fontsize=8, color="firebrick")
        ax.set_xlabel(cost_label)
        ax.set_ylabel("D_STFT (log; lower is better)")
        return
    quality = np.array([float(r["d_stft"]) for r in plotted])
    cost = np.array([float(r[cost_key]) for r in plotted])
    on_front = np.array([str(r[front_key]) == "True" for r in plotted], dtype=bool)
    for row, q, c in zip(plotted, quality, cost):
        estimated = cost_key.startswith("energy") and row.get("energy_method") == "estimated"
        colour = SIZE_COLOURS.get(row["size"], "grey")
        ax.scatter(
            c,
            q,
            marker=FAMILY_MARKERS.get(row["model"], "o"),
            s=70,
            facecolors="none" if estimated else colour,
            edgecolors=colour,
            linewidths=1.5,
            zorder=3,
        )
        ax.annotate(f"{row['model']} {row['size']}", (c, q), textcoords="offset points", xytext=(6, 4), fontsize=7)
    order = np.argsort(cost[on_front])
    ax.step(cost[on_front][order], quality[on_front][order], where="post", color="red", lw=1, alpha=0.6, zorder=2)
    ax.scatter(cost[on_front], quality[on_front], s=260, facecolors="none", edgecolors="red", lw=1.5, zorder=4)
    if left_out:  # e.g. a diverged model whose audio is NaN: say so rather than drop it silently
        ax.set_title(f"not plotted (no finite value): {', '.join(left_out)}", fontsize=8, color="firebrick")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on short decades
    ax.set_xlabel(cost_label)
    ax.set_ylabel("D_STFT (log; lower is better)")
    ax.grid(True, which="both", alpha=0.3)


def pareto_figure(rows: list[dict], out_paths: list[str | Path]) -> None:
    """D_STFT against GFLOPs and against energy per second of audio; estimated energy drawn hollow."""
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
    _panel(axes[0], rows, "gflops_per_audio_second", "pareto_d_stft_vs_gflops", "GFLOPs per second of audio (log)")
    methods = sorted({r["energy_method"] for r in rows})
    # The summary's energy column holds net or gross energy, as measurement.energy chose.
    basis = "/".join(sorted({r.get("energy_basis", "gross") for r in rows}))
    energy_label = f"Energy ({basis}), J per second of audio (log; {', '.join(methods)})"
    _panel(axes[1], rows, "energy_joules_per_audio_second", "pareto_d_stft_vs_energy", energy_label)
    families = sorted({r["model"] for r in rows})
    handles = [Line2D([], [], marker=FAMILY_MARKERS.get(f, "o"), ls="", color="k", label=f) for f in families]
    handles += [Line2D([], [], marker="o", ls="", color=c, label=f"size {s}") for s, c in SIZE_COLOURS.items()]
    handles += [
        Line2D([], [], marker="o", ls="", mfc="none", mec="red", ms=14, label="Pareto-efficient"),
        Line2D([], [], marker="o", ls="", mfc="none", mec="grey", label="energy estimated (not measured)"),
    ]
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    fig.suptitle("Quality against cost of neural vocoders")
    for path in out_paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
