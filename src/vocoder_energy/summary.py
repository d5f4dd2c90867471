"""One row per model and size: every number with its unit in the column name and its method beside it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .metrics import METRICS
from .pareto import nondominated

# (column, unit) in the order of the CSV; units are also in the names so a bare CSV reads unambiguously.
COLUMNS = [
    "model",
    "size",
    "parameters",
    "train_steps",
    "train_seconds",
    "d_stft",
    "d_stft_method",
    "gflops_per_audio_second",
    "gmacs_per_audio_second",
    "gflops_per_16384_samples",
    "flops_method",
    "real_time_factor",
    "energy_joules_per_audio_second",
    "energy_joules_per_workload",
    "energy_method",
    "energy_domains",
    "assumed_watts",
    "device",
    "pareto_d_stft_vs_gflops",
    "pareto_d_stft_vs_energy",
]
# Objective metrics (mean over test utterances and its 95 % t-interval); empty when not computed.
QUALITY_COLUMNS = ["d_stft", "d_stft_multiscale", *(c.name for m in METRICS.values() for c in m.columns)]
COLUMNS += [f"{name}{part}" for name in QUALITY_COLUMNS for part in ("_mean", "_ci_low", "_ci_high")]


def summary_row(model: str, size: str, train: dict, quality: dict, cost: dict) -> dict:
    flops, energy, timing = cost["flops"], cost["energy"], cost["time"]
    return {
        "model": model,
        "size": size,
        "parameters": cost["parameters"]["value"],
        "train_steps": train["steps"],
        "train_seconds": train["train_seconds"],
        "d_stft": quality["d_stft"]["value"],
        "d_stft_method": quality["d_stft"]["method"],
        "gflops_per_audio_second": flops["per_audio_second"] / 1e9,
        "gmacs_per_audio_second": flops["macs_per_audio_second"] / 1e9,
        # Table 2's unit: one 16,384-sample clip (what the paper calls "per second").
        "gflops_per_16384_samples": flops["per_audio_second"] * 16384 / flops["sample_rate"] / 1e9,
        "flops_method": "counted",
        "real_time_factor": timing["real_time_factor"],
        "energy_joules_per_audio_second": energy["joules_per_audio_second"],
        "energy_joules_per_workload": energy["joules_per_workload"],
        "energy_method": energy["method"],
        "energy_domains": "+".join(energy["domains"]) or "none",
        "assumed_watts": energy["assumed_watts"] if energy["assumed_watts"] is not None else "",
        "device": cost["context"]["device"],
    } | quality_columns(quality)


def quality_columns(quality: dict) -> dict:
    """``{metric}_mean/_ci_low/_ci_high`` for each aggregated metric of a quality document."""
    metrics = quality.get("metrics", {})
    row = {}
    for name in QUALITY_COLUMNS:
        aggregate = metrics.get(name, {})
        for part, key in (("_mean", "mean"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high")):
            row[f"{name}{part}"] = aggregate.get(key, "")
    return row


def build_summary(
    jobs: list[tuple[str, str]], train: list, quality: list, cost: list, out_csv: str | Path
) -> list[dict]:
    """Rows for ``jobs`` ((model, size) pairs) from the paths of their per-stage JSONs; writes the CSV."""
    rows = [
        summary_row(model, size, *(json.loads(Path(p).read_text()) for p in paths))
        # strict: a job whose JSONs are missing must fail loudly, never vanish from the table.
        for (model, size), paths in zip(jobs, zip(train, quality, cost, strict=True), strict=True)
    ]
    # Measured and estimated energies never share a front: energy fronts are computed per method.
    points = np.array([[r["d_stft"], r["gflops_per_audio_second"], r["energy_joules_per_audio_second"]] for r in rows])
    points = points.reshape(len(rows), 3)
    for row, on_front in zip(rows, nondominated(points[:, [0, 1]], [False, False])):
        row["pareto_d_stft_vs_gflops"] = bool(on_front)
    methods = np.array([r["energy_method"] for r in rows])
    for method in set(methods):
        (members,) = np.nonzero(methods == method)
        for i, on_front in zip(members, nondominated(points[members][:, [0, 2]], [False, False])):
            rows[i]["pareto_d_stft_vs_energy"] = bool(on_front)
    rows = [{column: row[column] for column in COLUMNS} for row in rows]
    with open(out_csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def read_summary(path: str | Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
