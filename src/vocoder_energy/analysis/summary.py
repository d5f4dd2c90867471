"""One row per model and size: every number with its unit in the column name and its method beside it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from vocoder_energy.analysis.pareto import nondominated
from vocoder_energy.core.files import write_csv
from vocoder_energy.cost.carbon import kg_co2eq
from vocoder_energy.evaluation.metrics import QUALITY_COLUMNS

ENERGY_BASES = ("net", "gross")  # measurement.energy

# (column, unit) in the order of the CSV; units are also in the names so a bare CSV reads unambiguously.
COLUMNS = [
    "model",
    "size",
    "weights",  # trained (here) or released (a published checkpoint, imported)
    "weights_origin",
    "features",  # the study's features, or the released checkpoint's mel recipe
    "sample_rate_hz",  # the model's own rate: cost is per second of audio at it
    "parameters",
    "train_steps",
    "train_seconds",
    "train_batch_size",
    "train_device",
    "train_energy_kwh",
    "train_kg_co2eq",
    "train_energy_method",
    "d_stft",
    "d_stft_method",
    "quality_sample_rate_hz",  # every quality column is at this common rate, except the one below
    "d_stft_at_model_rate",
    "gflops_per_audio_second",
    "gmacs_per_audio_second",
    "gflops_per_16384_samples",
    "flops_method",
    "real_time_factor",
    "energy_joules_per_audio_second",  # gross or net, as energy_basis says (measurement.energy)
    "energy_joules_per_workload",
    "energy_basis",
    "energy_method",
    "energy_domains",
    "assumed_watts",
    "device",
    "energy_gross_joules_per_audio_second",
    "energy_gross_joules_per_audio_second_ci95",
    "energy_net_joules_per_audio_second",
    "energy_net_joules_per_audio_second_ci95",
    "energy_net_method",
    "idle_watts",
    "idle_watts_ci95",
    "average_watts",
    "power_limit_watts",
    "energy_backend",
    "energy_flags",
    "energy_stable",  # False where energy spread across windows or the device warmed past a threshold
    "energy_unstable_reasons",
    "inference_kg_co2eq_per_audio_hour",
    "peak_memory_bytes",
    "pareto_d_stft_vs_gflops",
    "pareto_d_stft_vs_energy",
]
# Objective metrics (mean over test utterances and its 95 % t-interval); empty when not computed.
COLUMNS += [f"{c.name}{part}" for c in QUALITY_COLUMNS for part in ("_mean", "_ci_low", "_ci_high")]


def _value(value: float | None) -> float:
    """A number for the CSV; an unavailable one is NaN (never on a Pareto front, never plotted)."""
    return math.nan if value is None else value


def chosen_energy(energy: dict, energy_basis: str) -> dict:
    """The cost document's gross energy, or its net part, as ``measurement.energy`` says."""
    if energy_basis not in ENERGY_BASES:
        raise ValueError(f"measurement.energy: {energy_basis!r} is not one of {', '.join(ENERGY_BASES)}")
    return energy if energy_basis == "gross" else energy["net"]


def gflops_per_16384_samples(flops: dict) -> float:
    """Table 2's unit: one 16,384-sample clip (what the paper calls "per second")."""
    return flops["per_audio_second"] * 16384 / flops["sample_rate"] / 1e9


def origin_columns(origin: dict) -> dict:
    """Where the weights came from, and their training (blank for a released checkpoint: not trained here)."""
    if origin.get("weights") == "released":
        return {
            "weights": "released",
            "weights_origin": f"{origin['project']} ({origin['format']}): {origin['checkpoint']}",
            "features": origin["features"],
            "train_steps": math.nan,
            "train_seconds": math.nan,
            "train_batch_size": math.nan,
            "train_device": "",
            "train_energy_kwh": math.nan,
            "train_kg_co2eq": math.nan,
            "train_energy_method": "unavailable",
        }
    return {
        "weights": "trained",
        "weights_origin": "trained here",
        "features": "study",
        "train_steps": origin["steps"],
        "train_seconds": origin["train_seconds"],
        "train_batch_size": origin["batch_size"],
        "train_device": origin["device_name"],
        # The training job converts with the configured carbon intensity (recorded in its JSON).
        "train_energy_kwh": origin["energy"]["kwh"],
        "train_kg_co2eq": origin["energy"]["kg_co2eq"],
        "train_energy_method": origin["energy"]["method"],
    }


def summary_row(
    model: str,
    size: str,
    origin: dict,
    quality: dict,
    cost: dict,
    energy_basis: str,
    carbon_intensity: float | None = None,
) -> dict:
    """``origin``: the training summary, or a released checkpoint's provenance (``models.released``)."""
    flops, energy, timing = cost["flops"], cost["energy"], cost["time"]
    chosen = chosen_energy(energy, energy_basis)
    net, idle = energy["net"], energy["idle"]
    net_per_second = _value(net["joules_per_audio_second"])
    carbon = math.nan if carbon_intensity is None else kg_co2eq(net_per_second * 3600, carbon_intensity)
    return {
        "model": model,
        "size": size,
        **origin_columns(origin),
        "sample_rate_hz": flops["sample_rate"],
        "parameters": cost["parameters"]["value"],
        "d_stft": quality["d_stft"]["value"],
        "d_stft_method": quality["d_stft"]["method"],
        # Quality documents before the common rate was recorded were all at 16 kHz, the models' rate.
        "quality_sample_rate_hz": quality.get("sample_rate", 16000),
        "d_stft_at_model_rate": quality.get("at_model_rate", {}).get("d_stft", quality["d_stft"]["value"]),
        "gflops_per_audio_second": flops["per_audio_second"] / 1e9,
        "gmacs_per_audio_second": flops["macs_per_audio_second"] / 1e9,
        "gflops_per_16384_samples": gflops_per_16384_samples(flops),
        "flops_method": "counted",
        "real_time_factor": timing["real_time_factor"],
        "energy_joules_per_audio_second": _value(chosen["joules_per_audio_second"]),
        "energy_joules_per_workload": _value(chosen["joules_per_workload"]),
        "energy_basis": energy_basis,
        "energy_method": energy["method"],
        "energy_domains": "+".join(energy["domains"]) or "none",
        "assumed_watts": energy["assumed_watts"] if energy["assumed_watts"] is not None else "",
        "device": cost["context"]["device"],
        "energy_gross_joules_per_audio_second": energy["joules_per_audio_second"],
        "energy_gross_joules_per_audio_second_ci95": _value(energy["joules_per_audio_second_ci95"]),
        "energy_net_joules_per_audio_second": net_per_second,
        "energy_net_joules_per_audio_second_ci95": _value(net["joules_per_audio_second_ci95"]),
        "energy_net_method": net["method"],
        "idle_watts": _value(idle["watts"]),
        "idle_watts_ci95": _value(idle["watts_ci95"]),
        "average_watts": energy["average_watts"],
        "power_limit_watts": _value(energy["power_limit_watts"]),
        "energy_backend": energy["backend"],
        # Each flag once, e.g. "short_window;non_positive_delta"; empty when every window passed.
        "energy_flags": ";".join(dict.fromkeys(f["flag"] for f in energy["flags"])),
        **stability_columns(energy),
        # Net energy of one hour of generated audio at the configured grid intensity (NaN without net).
        "inference_kg_co2eq_per_audio_hour": carbon,
        "peak_memory_bytes": cost["memory"]["peak_bytes"],
    } | quality_columns(quality)


def stability_columns(energy: dict) -> dict:
    """The measurement's stability verdict (blank for a cost document from before it was judged)."""
    verdict = energy.get("stability")
    if verdict is None:
        return {"energy_stable": "", "energy_unstable_reasons": ""}
    return {"energy_stable": verdict["stable"], "energy_unstable_reasons": "; ".join(verdict["reasons"])}


def quality_columns(quality: dict) -> dict:
    """``{metric}_mean/_ci_low/_ci_high`` for each aggregated metric of a quality document."""
    metrics = quality.get("metrics", {})
    row = {}
    for name in (c.name for c in QUALITY_COLUMNS):
        aggregate = metrics.get(name, {})
        for part, key in (("_mean", "mean"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high")):
            row[f"{name}{part}"] = aggregate.get(key, "")
    return row


def build_summary(
    jobs: list[tuple[str, str]],
    origin: list,
    quality: list,
    cost: list,
    out_csv: str | Path,
    energy_basis: str,
    carbon_intensity: float | None = None,
) -> list[dict]:
    """Rows for ``jobs`` ((model, size) pairs) from the paths of their per-stage JSONs (``origin``: training
    summaries or released checkpoints' provenance); writes the CSV.
    ``energy_basis`` (measurement.energy: no default here, the schema's is the one) picks the energy that
    ``energy_joules_per_*``, the Pareto flags and the figure use; ``carbon_intensity`` (kgCO2eq/kWh)
    converts net energy to carbon."""
    rows = [
        summary_row(model, size, *(json.loads(Path(p).read_text()) for p in paths), energy_basis, carbon_intensity)
        # strict: a job whose JSONs are missing must fail loudly, never vanish from the table.
        for (model, size), paths in zip(jobs, zip(origin, quality, cost, strict=True), strict=True)
    ]
    points = np.array([[r["d_stft"], r["gflops_per_audio_second"], r["energy_joules_per_audio_second"]] for r in rows])
    points = points.reshape(len(rows), 3)
    # Measured and estimated energies never share a front: energy fronts are computed per method.
    fronts = {
        "pareto_d_stft_vs_gflops": nondominated(points[:, [0, 1]], [False, False]),
        "pareto_d_stft_vs_energy": nondominated(points[:, [0, 2]], [False, False], [r["energy_method"] for r in rows]),
    }
    for i, row in enumerate(rows):
        row.update({column: bool(front[i]) for column, front in fronts.items()})
    rows = [{column: row[column] for column in COLUMNS} for row in rows]
    write_csv(rows, COLUMNS, out_csv)
    return rows
