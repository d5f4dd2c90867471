"""Do the cheap metrics track the listeners? When the listening test has ratings: per system, the human MOS
beside the predicted one, and for the predicted MOS, D_STFT and every objective metric their Pearson and
Spearman correlations with the human MOS over systems, each with a bootstrap interval (systems resampled).

The paper found "large discrepancies between the MOS and D_STFT"; this is that check on the user's data.
Correlations keep their sign: a distance (lower is better) that tracks listeners correlates negatively.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from vocoder_energy.analysis.objectives import PREDICTED_MOS_COLUMNS, quality_objectives  # noqa: E402
from vocoder_energy.analysis.plots import family_markers, label  # noqa: E402
from vocoder_energy.core.files import write_text  # noqa: E402

CORRELATIONS = {"pearson": stats.pearsonr, "spearman": stats.spearmanr}


def predicted_column(runs: pd.DataFrame) -> str | None:
    """The predicted MOS the analysis would rank on without ratings (local_mos, else DNSMOS P.808)."""
    return next((c for c in PREDICTED_MOS_COLUMNS if c in runs and runs[c].notna().any()), None)


def per_system(runs: pd.DataFrame) -> pd.DataFrame:
    """Rated systems with the human MOS and the predicted MOS (``predicted_column``), each with its interval."""
    columns = ["model", "size", "mos", "mos_ci_low", "mos_ci_high"]
    predicted = predicted_column(runs)
    if predicted:
        columns += [c for c in (predicted, f"{predicted}_ci_low", f"{predicted}_ci_high") if c in runs]
    return runs.loc[runs["mos"].notna(), columns].reset_index(drop=True)


def correlation(x: np.ndarray, y: np.ndarray, kind: str) -> float:
    """Pearson or Spearman correlation; NaN where it is undefined (fewer than 3 systems, a constant)."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(CORRELATIONS[kind](x, y)[0])


def bootstrap_interval(
    x: np.ndarray, y: np.ndarray, kind: str, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the correlation over systems drawn with replacement. Draws of fewer than 3
    distinct systems are skipped: two systems always correlate +-1, which would pin the interval there."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(len(x), size=(resamples, len(x)))
    values = np.array([correlation(x[d], y[d], kind) for d in draws if len(np.unique(d)) >= 3])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def correlations_with_mos(runs: pd.DataFrame, resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per quality column the runs have (predicted MOS first, then D_STFT and the metrics): its
    Pearson and Spearman correlation with the human MOS over the rated systems, with bootstrap intervals."""
    rated = runs[runs["mos"].notna()]
    names = [name for name in quality_objectives() if name != "mos" and name in rated and rated[name].notna().any()]
    names.sort(key=lambda name: name not in PREDICTED_MOS_COLUMNS)  # predicted MOS first
    rows = []
    for name in names:
        both = rated[[name, "mos"]].dropna()
        x, y = both[name].to_numpy(float), both["mos"].to_numpy(float)
        row = {"metric": name, "higher_is_better": quality_objectives()[name].higher_is_better, "systems": len(x)}
        for kind in CORRELATIONS:
            low, high = bootstrap_interval(x, y, kind, resamples, seed=seed)
            row |= {kind: correlation(x, y, kind), f"{kind}_ci_low": low, f"{kind}_ci_high": high}
        rows.append(row)
    return pd.DataFrame(rows)


def agreement_figure(systems: pd.DataFrame, correlations: pd.DataFrame, out_paths: list[str | Path]) -> None:
    """Human MOS against predicted MOS, one point per system with both intervals, and the diagonal."""
    fig, ax = plt.subplots(figsize=(6, 5.5))
    predicted = predicted_column(systems)
    if predicted:
        markers = family_markers(systems["model"].unique())
        for _, row in systems.iterrows():
            x, y = row[predicted], row["mos"]
            ax.errorbar(
                x,
                y,
                xerr=[[x - row[f"{predicted}_ci_low"]], [row[f"{predicted}_ci_high"] - x]],
                yerr=[[y - row["mos_ci_low"]], [row["mos_ci_high"] - y]],
                fmt=markers.get(row["model"], "o"),
                color="tab:blue",
                ecolor="0.6",
                capsize=2,
            )
            ax.annotate(label(row["model"], row["size"]), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.plot([1, 5], [1, 5], ls=":", color="0.5", lw=1, label="predicted = human")
        found = correlations[correlations["metric"] == predicted]
        if len(found) and np.isfinite(found.iloc[0]["pearson"]):
            r = found.iloc[0]
            ax.set_title(
                f"Pearson {r['pearson']:.2f} [{r['pearson_ci_low']:.2f}, {r['pearson_ci_high']:.2f}], "
                f"Spearman {r['spearman']:.2f} [{r['spearman_ci_low']:.2f}, {r['spearman_ci_high']:.2f}]",
                fontsize=9,
            )
        else:
            ax.set_title(f"no correlation: it needs 3 rated systems that differ ({len(systems)} rated)", fontsize=9)
        ax.legend(loc="lower right", fontsize=8)
    else:
        missing = "no predicted MOS: add dnsmos (or local_mos) to evaluation.metrics"
        ax.text(0.5, 0.5, missing, ha="center", transform=ax.transAxes)
    ax.set_xlim(1, 5)
    ax.set_ylim(1, 5)
    source = {"local_mos": "your predictor (local_mos)"}.get(predicted, "DNSMOS P.808")
    ax.set_xlabel(f"Predicted MOS, {source} (mean over test clips, 95 % t-interval)")
    ax.set_ylabel("Human MOS (listening test, 95 % bootstrap interval)")
    ax.grid(alpha=0.3)
    fig.suptitle("Predicted against human MOS, per system")
    fig.tight_layout()
    for path in out_paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)


def write_agreement(
    runs: pd.DataFrame,
    systems_csv: str | Path,
    correlations_csv: str | Path,
    figure_paths: list,
    resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """The outputs of rule ``agreement``; returns the correlations."""
    systems = per_system(runs)
    correlations = correlations_with_mos(runs, resamples, seed)
    write_text(systems.to_csv(index=False), systems_csv)
    write_text(correlations.to_csv(index=False), correlations_csv)
    agreement_figure(systems, correlations, figure_paths)
    return correlations
