"""Figure 2: quality against each cost, one panel per cost, the Pareto front circled in red (seaborn).

Marker = family, colour = size (light green to dark blue, as the paper). Hollow markers are estimated,
not measured, energy; they form their own front (dashed). A dashed orange ring marks a "possibly
efficient" point (its quality interval reaches the front). The paper's published points can be drawn
behind, in grey. Labels are moved apart with adjustText so that they do not overlap.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from adjustText import adjust_text  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from vocoder_energy.analysis.paper import paper_families  # noqa: E402
from vocoder_energy.analysis.pareto import Objective  # noqa: E402
from vocoder_energy.core.model_entries import TRAINED_SIZES  # noqa: E402

FAMILY_MARKERS = {
    "melgan": "o",
    "hifigan": "s",
    "waveglow": "^",
    "waveflow": "v",
    "wavegrad": "D",
    "diffwave": "P",
    "vocos": "*",
    "bigvgan": "X",
}
SIZE_COLOURS = {"S": "#9ad18b", "M": "#3a9bbf", "L": "#1f3b8f"}
RELEASED_COLOUR = "#d9822b"  # published checkpoints, measured as released (their labels say which)
FAMILY_NAMES = {
    "melgan": "MelGAN",
    "hifigan": "HiFi-GAN",
    "waveglow": "WaveGlow",
    "waveflow": "WaveFlow",
    "wavegrad": "WaveGrad",
    "diffwave": "DiffWave",
    "vocos": "Vocos",
    "bigvgan": "BigVGAN-v2",
}


# Families from other packages (docs/extending.md) take these in order of their names.
SPARE_MARKERS = ("h", "p", "<", ">", "d", "8", "H")


def family_markers(families) -> dict[str, str]:
    """Marker per family: the built-in ones' fixed, the others' from ``SPARE_MARKERS`` (cycling)."""
    others = sorted(set(families) - set(FAMILY_MARKERS))
    spare = {family: SPARE_MARKERS[i % len(SPARE_MARKERS)] for i, family in enumerate(others)}
    ordered = [family for family in [*FAMILY_MARKERS, *others] if family in families]
    return {family: FAMILY_MARKERS.get(family) or spare[family] for family in ordered}


def legend_name(family: str) -> str:
    """The family's name in a legend, saying when the paper did not study it."""
    name = FAMILY_NAMES.get(family, family)
    return name if family in paper_families() else f"{name} (not in the paper)"


def released(size) -> bool:
    """A size label other than the trained S/M/L names a released checkpoint (core.model_entries)."""
    return bool(size) and str(size) not in TRAINED_SIZES


def label(model: str, size: str) -> str:
    """ "HiFi-GAN S"; a released checkpoint's says where its weights came from: "HiFi-GAN LJ_V1 (released)"."""
    name = f"{FAMILY_NAMES.get(model, model)} {size}".strip()
    return f"{name} (released)" if released(size) else name


def point_colour(size) -> str:
    return RELEASED_COLOUR if released(size) else SIZE_COLOURS.get(size, "grey")


def log_axis(axis) -> None:
    """Plain numbers (0.1, 1, 10) on a log axis, without minor labels; shared with the deployment figures."""
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())  # minor labels collide on short decades


def label_rings(ax, centres: np.ndarray, radius_px: float) -> np.ndarray:
    """``centres`` (data coordinates) with two rings of twelve points around each, at ``radius_px`` pixels
    and half of it, so that a label's box cannot sit on a marker or its front circle."""
    ax.autoscale_view()
    pixels = ax.transData.transform(centres)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    unit = np.column_stack([np.cos(angles), np.sin(angles)])
    offsets = np.vstack([[0.0, 0.0], radius_px * unit, radius_px / 2 * unit])
    ring = (pixels[:, None, :] + offsets[None, :, :]).reshape(-1, 2)
    return ax.transData.inverted().transform(ring)


def _panel(
    ax,
    frame: pd.DataFrame,
    quality: Objective,
    cost: Objective,
    quality_ci: tuple[str, str] | None,
    method_column: str | None,
    overlay: pd.DataFrame | None,
) -> list[str]:
    """One scatter of quality against ``cost``; returns the labels of the rows left out (no finite value)."""
    finite = np.isfinite(frame[quality.column].astype(float)) & np.isfinite(frame[cost.column].astype(float))
    plotted, left_out = frame[finite], frame[~finite]
    if overlay is not None and not {quality.column, cost.column} <= set(overlay.columns):
        overlay = None  # the paper has no such column (e.g. a metric it did not report)
    estimated = (
        plotted[method_column].eq("estimated")
        if method_column and method_column in plotted
        else pd.Series(False, index=plotted.index)
    )
    if overlay is not None:
        _paper_points(ax, overlay, quality, cost)
    _points(ax, plotted, quality, cost, estimated, family_markers(set(frame["model"])))
    _error_bars(ax, plotted, quality, cost, quality_ci)
    _fronts(ax, plotted, quality, cost, estimated)
    _axes(ax, quality, cost, plotted.empty, overlaid=overlay is not None and len(overlay) > 0)
    _labels(ax, plotted, overlay, quality, cost)
    return [label(r["model"], r["size"]) for _, r in left_out.iterrows()]


def _paper_points(ax, overlay: pd.DataFrame, quality: Objective, cost: Objective) -> None:
    """The paper's published points and front, in grey behind ours."""
    for model, points in overlay.groupby("model"):
        ax.scatter(
            points[cost.column],
            points[quality.column],
            marker=FAMILY_MARKERS.get(model, "o"),
            s=40,
            color="0.6",
            alpha=0.45,
            zorder=1,
        )
    paper_front = overlay[overlay.get(f"on_front_{cost.key}", pd.Series(False, index=overlay.index))]
    paper_front = paper_front.sort_values(cost.column)
    ax.step(paper_front[cost.column], paper_front[quality.column], where="post", color="0.6", ls="-.", lw=0.8, zorder=1)


def _points(ax, plotted, quality: Objective, cost: Objective, estimated: pd.Series, markers: dict[str, str]) -> None:
    scatter_runs(ax, plotted, cost.column, quality.column, estimated, markers)


def scatter_runs(ax, rows: pd.DataFrame, x: str, y: str, hollow, markers: dict[str, str]) -> None:
    """One marker per model: family shape, size colour, hollow where ``hollow`` (energy estimated)."""
    for (_, row), empty in zip(rows.iterrows(), hollow):
        colour = point_colour(row["size"])
        ax.scatter(
            row[x],
            row[y],
            marker=markers[row["model"]],
            s=70,
            facecolors="none" if empty else colour,
            edgecolors=colour,
            linewidths=1.5,
            zorder=3,
        )


def _error_bars(ax, plotted: pd.DataFrame, quality: Objective, cost: Objective, quality_ci) -> None:
    if quality_ci is None or not set(quality_ci) <= set(plotted.columns):
        return
    low, high = plotted[quality_ci[0]].astype(float), plotted[quality_ci[1]].astype(float)
    y = plotted[quality.column].astype(float)
    ax.errorbar(
        plotted[cost.column],
        y,
        yerr=[np.maximum(y - low, 0).fillna(0), np.maximum(high - y, 0).fillna(0)],
        fmt="none",
        ecolor="0.4",
        elinewidth=0.8,
        zorder=2,
    )


def _fronts(ax, plotted: pd.DataFrame, quality: Objective, cost: Objective, estimated: pd.Series) -> None:
    """Family sub-fronts (dotted), the Pareto front (red; dashed for estimated energy), red rings on its
    points and orange rings on possibly efficient ones."""
    family_front = f"on_family_front_{cost.key}"
    if family_front in plotted:  # each family's own size front (the paper's "sub-Pareto fronts")
        for _, members in plotted[plotted[family_front].astype(bool)].groupby("model"):
            members = members.sort_values(cost.column)
            ax.plot(members[cost.column], members[quality.column], color="0.35", ls=":", lw=1.1, zorder=2)
    front = plotted[plotted[f"on_front_{cost.key}"].astype(bool)]
    for hollow in (False, True):
        part = front[estimated[front.index] == hollow].sort_values(cost.column)
        ax.step(
            part[cost.column],
            part[quality.column],
            where="post",
            color="red",
            lw=1,
            ls="--" if hollow else "-",
            alpha=0.6,
            zorder=2,
        )
    for _, row in front.iterrows():  # one ring per point, as the tests and adjustText see points
        ax.scatter(row[cost.column], row[quality.column], s=260, facecolors="none", edgecolors="red", lw=1.5, zorder=4)
    possibly = plotted[plotted.get(f"possibly_efficient_{cost.key}", pd.Series(False, index=plotted.index)) == True]  # noqa: E712
    ax.scatter(
        possibly[cost.column],
        possibly[quality.column],
        s=260,
        facecolors="none",
        edgecolors="orange",
        linestyle="--",
        lw=1.2,
        zorder=4,
    )


def _axes(ax, quality: Objective, cost: Objective, empty: bool, overlaid: bool) -> None:
    if empty:  # e.g. net energy where every row's energy could only be estimated (no idle baseline)
        ax.text(0.5, 0.5, "nothing to plot (no finite value)", transform=ax.transAxes, ha="center", color="firebrick")
    if not empty or overlaid:  # a log axis without data cannot place its ticks
        ax.set_xscale("log")
        log_axis(ax.xaxis)
        if quality.log:
            ax.set_yscale("log")
            log_axis(ax.yaxis)
    ax.set_xlabel(cost.label)
    ax.set_ylabel(quality.label)
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(0.12)  # room for labels of points at the edges


# Above this many points a panel names only its Pareto-efficient ones (every point is in pareto.csv): the
# paper's 18 and paper_plus' 24 are all named; 35 labels (the demo with every released checkpoint) cover it.
MAX_LABELS = 24


def labelled_rows(plotted: pd.DataFrame, cost: Objective) -> pd.DataFrame:
    """Every point, or only the panel's Pareto-efficient ones when there are more than ``MAX_LABELS``."""
    front = f"on_front_{cost.key}"
    if len(plotted) <= MAX_LABELS or front not in plotted:
        return plotted
    return plotted[plotted[front].astype(bool)]


def _labels(ax, plotted: pd.DataFrame, overlay: pd.DataFrame | None, quality: Objective, cost: Objective) -> None:
    """A label per point (per Pareto-efficient point on a crowded panel), kept clear of each other and of
    every marker (a ring of points around each), the paper's too."""
    texts = [
        ax.text(
            row[cost.column],
            row[quality.column],
            label(row["model"], row["size"]),
            fontsize=7,
            zorder=5,
        )
        for _, row in labelled_rows(plotted, cost).iterrows()
    ]
    if not texts:
        return
    centres = [plotted[[cost.column, quality.column]].to_numpy(float)]
    if overlay is not None:
        centres.append(overlay[[cost.column, quality.column]].to_numpy(float))
    avoid = label_rings(ax, np.concatenate(centres), radius_px=14)
    adjust_text(
        texts,
        x=avoid[:, 0],
        y=avoid[:, 1],
        ax=ax,
        expand=(1.2, 1.5),
        force_static=(0.3, 0.6),
        force_text=(0.3, 0.6),
        arrowprops={"arrowstyle": "-", "color": "0.7", "lw": 0.4},
        min_arrow_len=8,
    )


def pareto_figure(
    frame: pd.DataFrame,
    quality: Objective,
    costs: list[Objective],
    out_paths: list[str | Path],
    quality_ci: tuple[str, str] | None = None,
    method_columns: dict[str, str] | None = None,
    overlay: pd.DataFrame | None = None,
    title: str = "Quality against cost of neural vocoders",
    note: str | None = None,
) -> None:
    """Figure 2 for ``frame`` (the columns of ``pareto_analysis``): one panel per cost, PNG and SVG; ``note``
    is a line under the title."""
    method_columns = method_columns or {}
    sns.set_style("whitegrid")
    fig, axes = plt.subplots(1, len(costs), figsize=(6.2 * len(costs), 5.2), constrained_layout=True, squeeze=False)
    left_out = {}  # cost -> rows without a finite value on that panel
    for ax, cost in zip(axes[0], costs):
        missing = _panel(ax, frame, quality, cost, quality_ci, method_columns.get(cost.column), overlay)
        if missing:
            left_out[cost.key] = missing
    markers = family_markers(set(frame["model"]))
    handles = [Line2D([], [], marker=m, ls="", color="k", label=legend_name(f)) for f, m in markers.items()]
    sizes = set(frame["size"].astype(str))
    handles += [
        Line2D([], [], marker="o", ls="", color=c, label=f"size {s}") for s, c in SIZE_COLOURS.items() if s in sizes
    ]
    if frame["size"].map(released).any():
        handles.append(Line2D([], [], marker="o", ls="", color=RELEASED_COLOUR, label="released checkpoint"))
    handles.append(
        Line2D([], [], marker="o", ls="-", mfc="none", mec="red", color="red", ms=14, label="Pareto-efficient")
    )
    handles.append(Line2D([], [], ls=":", color="0.35", lw=1.1, label="family sub-front"))
    if any(c.startswith("possibly_efficient_") and frame[c].any() for c in frame.columns):
        handles.append(
            Line2D([], [], marker="o", ls="", mfc="none", mec="orange", ms=14, label="possibly efficient (CI)")
        )
    if any(m in frame and frame[m].eq("estimated").any() for m in method_columns.values()):
        handles.append(
            Line2D(
                [], [], marker="o", ls="--", mfc="none", mec="grey", color="red", label="energy estimated (own front)"
            )
        )
    if overlay is not None:
        handles.append(Line2D([], [], marker="o", ls="-.", color="0.6", alpha=0.6, label="paper (Tables 1-2)"))
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    if note:
        title += f"\n{note}"
    if len(frame) > MAX_LABELS:
        title += f"\n{len(frame)} models: only Pareto-efficient points are named (all in results/analysis/pareto.csv)"
    if left_out:  # e.g. a diverged model whose audio is NaN: say so rather than drop it silently
        title += "\nnot plotted (no finite value): " + "; ".join(
            f"{cost} panel: {', '.join(sorted(rows))}" for cost, rows in left_out.items()
        )
    fig.suptitle(title)
    for path in out_paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
