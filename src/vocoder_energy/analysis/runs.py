"""The Pareto analysis of the user's runs: the summary (and MOS, when rated) as one frame in the paper's
units (see ``objectives``), the chosen quality and cost objectives, fronts, ranks and hypervolumes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from vocoder_energy.analysis.objectives import (
    COSTS,
    ENERGY_WORKLOAD_SECONDS,
    PAPER_CLIP_SECONDS,
    PREDICTED_MOS_COLUMNS,
    QUALITY_ALIASES,
    QUALITY_CHOICES,
    quality_objectives,
)
from vocoder_energy.analysis.paper import paper_points
from vocoder_energy.analysis.pareto import Objective, pareto_analysis
from vocoder_energy.analysis.plots import pareto_figure
from vocoder_energy.core.files import write_json, write_text
from vocoder_energy.listening.ratings import GROUND_TRUTH, RATINGS_PATH


def choose_quality(name: str, has_mos: bool, available: set[str] | frozenset[str] = frozenset()) -> Objective:
    """The quality objective. ``auto``: human MOS when ratings exist, else a predicted MOS that
    ``evaluation.metrics`` computed (your own predictor, local_mos, else DNSMOS P.808), else D_STFT;
    ``dnsmos`` names DNSMOS P.808. ``available``:
    the quality columns the runs have (empty: not checked). MOS without ratings, or a metric the runs lack,
    is an error saying what to add."""
    if name == "auto":
        predicted = [column for column in PREDICTED_MOS_COLUMNS if column in available]
        name = "mos" if has_mos else (predicted or ["d_stft"])[0]
    name = QUALITY_ALIASES.get(name, name)
    if name == "mos" and not has_mos:
        raise ValueError(
            f"analysis.quality is 'mos' but there are no ratings: add {RATINGS_PATH} (the listening test's export) "
            "or choose an objective metric (e.g. d_stft)"
        )
    if name not in QUALITY_CHOICES:
        raise ValueError(f"analysis.quality: unknown quality '{name}' (choose from {', '.join(QUALITY_CHOICES)})")
    if available and name != "mos" and name not in available:
        raise ValueError(
            f"analysis.quality is '{name}' but no run has a value for it: its metric is not in "
            "evaluation.metrics, or it was left unavailable in every run (logs/quality/*.log say why, e.g. "
            f"a missing local_mos file, or evaluation.d_stft_multiscale off); computed: {', '.join(sorted(available))}"
        )
    return quality_objectives()[name]


def runs_frame(summary: pd.DataFrame, mos: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run in the paper's units, with quality intervals as ``{column}_ci_low/_ci_high``."""
    frame = pd.DataFrame(
        {
            "model": summary["model"],
            "size": summary["size"].astype(str),
            # Summaries written before released checkpoints could be measured hold trained models only.
            "weights": summary.get("weights", pd.Series("trained", index=summary.index)),
            "gflops": summary["gflops_per_audio_second"] * PAPER_CLIP_SECONDS,
            "energy": summary["energy_joules_per_audio_second"] * ENERGY_WORKLOAD_SECONDS,
            "energy_method": summary["energy_method"],
            "parameters_millions": summary["parameters"] / 1e6,
            "real_time_factor": summary["real_time_factor"],
            "d_stft": summary["d_stft"],
        }
    )
    for column in ("features", "sample_rate_hz", "d_stft_at_model_rate"):  # where the summary has them
        if column in summary:
            frame[column] = summary[column]
    for name in quality_objectives():
        if f"{name}_mean" in summary and summary[f"{name}_mean"].notna().any():
            if name != "d_stft":  # D_STFT's value is the batch mean already (all clips one length)
                frame[name] = summary[f"{name}_mean"]
            frame[f"{name}_ci_low"] = summary[f"{name}_ci_low"]
            frame[f"{name}_ci_high"] = summary[f"{name}_ci_high"]
    if mos is not None:
        rated = mos[mos["system"] != GROUND_TRUTH][["model", "size", "mos", "boot_ci_low", "boot_ci_high"]]
        rated = rated.rename(columns={"boot_ci_low": "mos_ci_low", "boot_ci_high": "mos_ci_high"})
        frame = frame.merge(rated.astype({"size": str}), on=["model", "size"], how="left")
    return frame


def analyse_runs(
    summary_csv: str | Path,
    mos_csv: str | Path | None,
    quality: str,
    costs: list[str],
    pareto_csv: str | Path,
    hypervolume_json: str | Path,
) -> tuple[pd.DataFrame, Objective, list[Objective]]:
    """Writes the analysed frame and the hypervolumes; returns them with the objectives used."""
    mos = pd.read_csv(mos_csv, dtype={"size": str}) if mos_csv else None
    frame = runs_frame(pd.read_csv(summary_csv, dtype={"size": str}), mos)
    computed = {name for name in quality_objectives() if name in frame and frame[name].notna().any()}
    objective = choose_quality(quality, mos is not None, computed)
    chosen = [COSTS[c] for c in costs]
    ci = (f"{objective.column}_ci_low", f"{objective.column}_ci_high")
    analysed, volumes = pareto_analysis(
        frame,
        objective,
        chosen,
        quality_ci=ci if set(ci) <= set(frame.columns) else None,
        partitions={"energy": "energy_method"},
    )
    write_text(analysed.to_csv(index=False), pareto_csv)
    write_json({"quality": objective.column} | volumes, hypervolume_json)
    return analysed, objective, chosen


def paper_overlay(quality: Objective, costs: list[Objective]) -> pd.DataFrame | None:
    """The paper's points with their own fronts on the same objectives (None if it has no such quality)."""
    points = paper_points()
    available = [c for c in costs if c.column in points]
    if quality.column not in points or not available:
        return None
    return pareto_analysis(points, quality, available)[0]


def runs_figure(
    pareto_csv: str | Path, hypervolume_json: str | Path, costs: list[str], overlay_paper: bool, out_paths: list
) -> None:
    """Figure 2 for the analysed runs, on the quality the analysis chose (named in ``hypervolume_json``)."""
    runs = pd.read_csv(pareto_csv, dtype={"size": str})
    quality = quality_objectives()[json.loads(Path(hypervolume_json).read_text())["quality"]]
    chosen = [COSTS[c] for c in costs]
    ci = (f"{quality.column}_ci_low", f"{quality.column}_ci_high")
    overlay = paper_overlay(quality, chosen) if overlay_paper else None
    pareto_figure(
        runs,
        quality,
        chosen,
        out_paths,
        quality_ci=ci if set(ci) <= set(runs.columns) else None,
        method_columns={"energy": "energy_method"},
        overlay=overlay,
        note=f"the paper's points: not on this axis (it reported MOS and D_STFT, not {quality.column})"
        if overlay_paper and overlay is None
        else None,
    )
