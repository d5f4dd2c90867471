"""Table 2 without training: parameters, FLOPs, time and energy of freshly initialised models.

None of these depends on what the weights learned except energy, a little (a device's power draw moves
with the values it multiplies; docs/methods.md says how far on the machines measured). Every row says
``weights: untrained``; the figure plots energy against GFLOPs, the paper's point that the one does not
follow from the other.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402  (after plots: headless backend)
import pandas as pd
from adjustText import adjust_text

from vocoder_energy.analysis.objectives import ENERGY_WORKLOAD_SECONDS
from vocoder_energy.analysis.plots import family_markers, label, scatter_runs  # sets the Agg backend
from vocoder_energy.analysis.summary import chosen_energy, gflops_per_16384_samples
from vocoder_energy.analysis.tables import table2, write_table

CAPTION = (
    "Table 2 without training (weights: untrained): parameters (M), GFLOPs per 16,384-sample clip and "
    "energy (J per 100 s of generated audio) of freshly initialised models, the paper's values beside."
)


def cost_frame(jobs: list[tuple[str, str]], cost_paths: list[str | Path], energy_basis: str) -> pd.DataFrame:
    """One row per (model, size) from its cost job's JSON, in Table 2's units."""
    rows = []
    for (model, size), path in zip(jobs, cost_paths, strict=True):
        cost = json.loads(Path(path).read_text())
        energy = cost["energy"]
        per_second = chosen_energy(energy, energy_basis)["joules_per_audio_second"]  # None: no net energy
        rows.append(
            {
                "model": model,
                "size": size,
                "weights": cost.get("weights", "trained"),
                "parameters_millions": cost["parameters"]["value"] / 1e6,
                "gflops": gflops_per_16384_samples(cost["flops"]),
                "energy": math.nan if per_second is None else per_second * ENERGY_WORKLOAD_SECONDS,
                "energy_method": energy["method"],
                "real_time_factor": cost["time"]["real_time_factor"],
            }
        )
    return pd.DataFrame(rows)


def write_cost_table(frame: pd.DataFrame, csv_path, markdown_path, html_path) -> pd.DataFrame:
    table = table2(frame)
    write_table(table, csv_path, markdown_path, html_path, CAPTION)
    return table


def cost_figure(frame: pd.DataFrame, paths: list[str | Path]) -> None:
    """Energy against GFLOPs, log-log: marker = family, colour = size, hollow = estimated energy."""
    markers = family_markers(set(frame["model"]))
    fig, ax = plt.subplots(figsize=(6.4, 5.0), constrained_layout=True)
    finite = frame["energy"].notna() & (frame["energy"] > 0) & (frame["gflops"] > 0)
    left_out = [label(m, s) for m, s in zip(frame.loc[~finite, "model"], frame.loc[~finite, "size"])]
    if left_out:  # e.g. net energy asked for where only an estimate exists
        note = "no energy value (unavailable): " + ", ".join(left_out)
        ax.text(0.02, 0.02, note, transform=ax.transAxes, fontsize=7, wrap=True, color="0.3")
    shown = frame[finite]
    scatter_runs(ax, shown, "gflops", "energy", shown["energy_method"].eq("estimated"), markers)
    texts = [ax.text(r["gflops"], r["energy"], label(r["model"], r["size"]), fontsize=8) for _, r in shown.iterrows()]
    ax.set(xlabel="GFLOPs per 16,384-sample clip", ylabel="energy (J per 100 s of audio)")
    if finite.any():
        ax.set(xscale="log", yscale="log")
    methods = sorted(set(frame["energy_method"]))
    ax.set_title(f"Cost without training (weights: untrained; energy {', '.join(methods)})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if texts:
        adjust_text(texts, ax=ax)  # labels apart, as in the Pareto figure
    for path in paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    plt.close(fig)
