"""Figures of a deployment sweep: the power (and temperature) traces of each measured setting, and quality
against cost for every measured setting of every model and machine.

Both write PNG and SVG (matplotlib Agg, as ``analysis.plots``: the SVG keeps every string, so a test or a
reader can search it for a setting's name). Names of models come from ``analysis.plots.label``.
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from adjustText import adjust_text  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator  # noqa: E402

from vocoder_energy.analysis.pareto import nondominated  # noqa: E402
from vocoder_energy.analysis.plots import MAX_LABELS, label, label_rings, log_axis  # noqa: E402

MAX_TRACE_PANELS = 16  # beyond this a figure is too tall to read; the title says how many were left out
IDLE_COLOUR = "0.5"
LOAD_COLOUR = "#1f77b4"
TEMPERATURE_COLOUR = "#d9822b"
UNSTABLE_COLOUR = "firebrick"
PRECISION_MARKERS = {"fp32": "o", "bf16": "s", "fp16": "^"}
OTHER_PRECISION_MARKER = "D"
COLOUR_BY = ("model", "hardware")
SHORT = {"energy_joules_per_audio_second": "energy", "real_time_factor": "real-time factor"}
NOTHING = "no measured setting"
# adjustText's default stops after 1 s, so where labels end up would depend on the machine's speed; a fixed
# count of steps draws the same figure everywhere (120 settle two dozen labels; more move them little).
LABEL_STEPS = 120


def _save(fig, out_stem: Path) -> None:
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".png", ".svg"):
        fig.savefig(out_stem.with_name(out_stem.name + suffix), dpi=150)
    plt.close(fig)


def _empty_figure(title: str, out_stem: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3), constrained_layout=True)
    ax.set_axis_off()
    ax.text(0.5, 0.5, NOTHING, transform=ax.transAxes, ha="center", va="center", fontsize=12, color=UNSTABLE_COLOUR)
    fig.suptitle(title)
    _save(fig, out_stem)


def _floats(values) -> np.ndarray:
    """Samples as floats, a missing one (a counter's first read has no difference yet) as NaN."""
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


# ---------------------------------------------------------------------------------------------- traces


def _timeline(trace: dict) -> list[dict]:
    """The trace's windows laid end to end in the order measured, each with its start and end on the
    common time axis and its samples shifted there; a small gap between windows shows where one ends."""
    windows = trace.get("windows") or []
    period = 1.0 / trace["hz"] if trace.get("hz") else 0.0
    # A window lasted about one period past its last sample (the sampler stops between ticks).
    lengths = [(w["t"][-1] + period) if w["t"] else 0.0 for w in windows]
    gap = 0.02 * sum(lengths) or 0.01
    laid, start = [], 0.0
    for window, length in zip(windows, lengths):
        laid.append(
            {
                "phase": window["phase"],
                "window": window["window"],
                "start": start,
                "end": start + length,
                "t": start + _floats(window["t"]),
                "watts": _floats(window["watts"]),
                "celsius": _floats(window["celsius"]),
            }
        )
        start += length + gap
    return laid


def _has_temperature(trace: dict) -> bool:
    return any(c is not None for w in trace.get("windows") or [] for c in w["celsius"])


def _padded_range(values: list[np.ndarray], from_zero: bool, pad: float) -> tuple[float, float] | None:
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    if finite.size == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    if from_zero and low >= 0:
        low = 0.0  # power from zero: a panel's level compares with the others' at a glance
    span = high - low or abs(high) or 1.0
    return low - (0 if low == 0 else pad * span), high + pad * span


def _verdict(stability: dict | None) -> tuple[str, str]:
    """The panel title's verdict and its colour: "stable", or "unstable: <reasons>" in red."""
    if not stability:
        return "stability not assessed", "0.3"
    if not stability.get("stable", True):
        return "unstable: " + "; ".join(stability.get("reasons") or ["no reason given"]), UNSTABLE_COLOUR
    unchecked = stability.get("unchecked") or []
    return ("stable" + (f" (not checked: {'; '.join(unchecked)})" if unchecked else "")), "black"


def _percent(share) -> str:
    return "unknown" if share is None else f"{100 * share:.2g} %"


def _trace_panel(ax, entry: dict, power_range, temperature_range) -> None:
    trace = entry["trace"]
    laid = _timeline(trace)
    label_windows = len(laid) <= 12  # more and the names would run into each other
    for window in laid:
        colour = IDLE_COLOUR if window["phase"] == "idle" else LOAD_COLOUR
        ax.axvspan(window["start"], window["end"], color=colour, alpha=0.12, lw=0, zorder=0)
        edges = (window["start"], window["end"])
        ax.vlines(edges, 0, 1, transform=ax.get_xaxis_transform(), color=colour, lw=0.6, alpha=0.7, zorder=1)
        drawn = np.isfinite(window["watts"])  # a missing reading is left out, never drawn as 0 W
        ax.plot(
            window["t"][drawn],
            window["watts"][drawn],
            color=colour,
            lw=1.2,
            marker="." if drawn.sum() < 40 else None,
            ms=3,
            zorder=3,
        )
        if label_windows:
            ax.text(
                (window["start"] + window["end"]) / 2,
                0.97,
                f"{window['phase']} {window['window']}",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                fontsize=6.5,
                color=colour,
            )
    if power_range:
        ax.set_ylim(*power_range)
    ax.set_ylabel("power (W)")
    ax.grid(True, axis="y", alpha=0.3)
    if _has_temperature(trace):
        twin = ax.twinx()
        for window in laid:
            shown = np.isfinite(window["celsius"])
            twin.plot(window["t"][shown], window["celsius"][shown], color=TEMPERATURE_COLOUR, lw=1, ls="--", zorder=2)
        if temperature_range:
            twin.set_ylim(*temperature_range)
        twin.set_ylabel("temperature (°C)", color=TEMPERATURE_COLOUR)
        twin.tick_params(axis="y", colors=TEMPERATURE_COLOUR)
    else:
        ax.text(0.995, 0.03, "no temperature reading", transform=ax.transAxes, ha="right", fontsize=7, color="0.4")
    verdict, colour = _verdict(entry.get("stability"))
    ax.set_title(textwrap.fill(f"{entry['setting']}: {verdict}", 150), loc="left", fontsize=9, color=colour)
    ax.set_xlabel(
        f"time (s), windows end to end in the order measured; {trace.get('samples', 0)} samples, "
        f"the sampler used {_percent(trace.get('sampler_cpu_share'))} of one core",
        fontsize=8,
    )


def _footer(traces: list[dict]) -> str:
    """Power source, rate, samples and the sampler's own cost over every setting shown."""
    docs = [t["trace"] for t in traces]

    def distinct(key: str) -> str:
        return " / ".join(dict.fromkeys(str(d.get(key) or "unknown") for d in docs))

    cpu = sum(d.get("sampler_cpu_seconds") or 0.0 for d in docs)
    wall = sum(d.get("sampler_wall_seconds") or 0.0 for d in docs)
    rates = " / ".join(dict.fromkeys(f"{d['hz']:g} Hz" for d in docs if d.get("hz")))
    return (
        f"power: {distinct('power_source')}, sampled at {rates or 'unknown rate'}; temperature: "
        f"{distinct('temperature_source')}; {sum(d.get('samples') or 0 for d in docs)} samples; the sampler's own "
        f"cost: {_percent(cpu / wall if wall > 0 else None)} of one core (its thread's CPU time over the time it ran)"
    )


def trace_figure(title: str, traces: list[dict], out_stem: Path) -> None:
    """One panel per measured setting (``{"setting": label, "trace": cost["trace"], "stability":
    cost["energy"]["stability"]}``): power against time over its windows, temperature where read.
    Writes ``out_stem``.png and .svg."""
    if not traces:
        _empty_figure(title, out_stem)
        return
    shown = traces[:MAX_TRACE_PANELS]
    if len(traces) > len(shown):
        title += f"\nfirst {len(shown)} of {len(traces)} settings shown; {len(traces) - len(shown)} left out"
    windows = [w for entry in shown for w in _timeline(entry["trace"])]
    # The top fifth is left to the windows' names, above the highest reading.
    power_range = _padded_range([w["watts"] for w in windows], from_zero=True, pad=0.2)
    temperature_range = _padded_range([w["celsius"] for w in windows], from_zero=False, pad=0.15)
    if temperature_range and temperature_range[1] - temperature_range[0] < 4:
        middle = sum(temperature_range) / 2  # a flat reading would fill the panel with sensor noise
        temperature_range = (middle - 2, middle + 2)
    fig, axes = plt.subplots(
        len(shown), 1, figsize=(11, 1.4 + 2.3 * len(shown)), constrained_layout=True, squeeze=False
    )
    for ax, entry in zip(axes[:, 0], shown):
        _trace_panel(ax, entry, power_range, temperature_range)
    phases = {w["phase"] for w in windows}
    handles = [
        handle
        for phase, colour in (("idle", IDLE_COLOUR), ("load", LOAD_COLOUR))
        if phase in phases
        for handle in (
            Patch(facecolor=colour, alpha=0.35, label=f"{phase} window"),
            Line2D([], [], color=colour, marker=".", label=f"power ({phase})"),
        )
    ]
    if any(_has_temperature(entry["trace"]) for entry in shown):
        handles.append(Line2D([], [], color=TEMPERATURE_COLOUR, ls="--", label="temperature"))
    # The caption is the legend's title: a figure legend and a suptitle or supxlabel on the same edge overlap.
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=len(handles),
        fontsize=8,
        frameon=False,
        title=textwrap.fill(_footer(shown), 170),
        title_fontsize=8,
    )
    fig.suptitle(title)
    _save(fig, out_stem)


# ------------------------------------------------------------------------------------- quality vs cost


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _unstable(stable) -> bool:
    """Only a verdict of unstable (False, or "False" read back from CSV) marks a point: None is unknown."""
    return stable is False or str(stable).strip().lower() == "false"


def _colour_key(row: dict, colour_by: str) -> str:
    return label(row["model"], row["size"]) if colour_by == "model" else str(row.get("hardware") or "unknown machine")


def _palette(keys: list[str]) -> dict[str, tuple]:
    colours = plt.get_cmap("tab10" if len(keys) <= 10 else "tab20").colors
    return {key: colours[i % len(colours)] for i, key in enumerate(keys)}


def _front_steps(ax, points: list[dict], x: str, by_method: bool) -> np.ndarray:
    """Step lines along the Pareto front (lower D_STFT, lower cost), one per energy method where
    ``by_method`` (a measured and an estimated energy never share a front); returns the mask of points on it."""
    xy = np.array([[p["d_stft"], p[x]] for p in points], dtype=float).reshape(len(points), 2)
    # As the dataset's own flags: a front per energy method and basis (net and gross never share one either).
    groups = [(p["energy_method"], p["energy_basis"]) if by_method else ("measured", "") for p in points]
    on_front = nondominated(xy, [False, False], groups)
    for group in dict.fromkeys(groups):
        members = sorted((i for i in np.flatnonzero(on_front) if groups[i] == group), key=lambda i: xy[i, 1])
        ax.step(
            xy[members, 1],
            xy[members, 0],
            where="post",
            color="red",
            lw=1,
            alpha=0.6,
            ls="--" if group[0] == "estimated" else "-",
            zorder=2,
        )
    return on_front


def _setting_panel(ax, points: list[dict], x: str, xlabel: str, colours: dict, colour_by: str, by_method: bool):
    for p in points:
        colour = colours[_colour_key(p, colour_by)]
        ax.scatter(
            p[x],
            p["d_stft"],
            marker=PRECISION_MARKERS.get(p["precision"], OTHER_PRECISION_MARKER),
            s=60,
            facecolors="none" if p["energy_method"] == "estimated" else colour,
            edgecolors=colour,
            linewidths=1.5,
            zorder=3,
        )
        if p["unstable"]:
            ax.scatter(p[x], p["d_stft"], marker="x", s=110, color=UNSTABLE_COLOUR, linewidths=1.4, zorder=4)
    on_front = _front_steps(ax, points, x, by_method) if points else np.array([], dtype=bool)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("D_STFT (lower is better)")
    ax.grid(True, which="both", alpha=0.3)
    if not points:
        ax.text(0.5, 0.5, "nothing to plot (no finite value)", transform=ax.transAxes, ha="center", color="firebrick")
        return
    ax.set_xscale("log")
    log_axis(ax.xaxis)
    xs = [p[x] for p in points]
    if max(xs) / min(xs) < 20:  # a decade's tick may not fall inside: label 2, 3 and 5 times each decade too
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0)))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    d_stft = [p["d_stft"] for p in points]
    if min(d_stft) > 0 and max(d_stft) / min(d_stft) > 10:  # a diverged model next to good ones
        ax.set_yscale("log")
        log_axis(ax.yaxis)
    ax.margins(0.15)
    named = [p for p, front in zip(points, on_front) if front or len(points) <= MAX_LABELS]
    texts = [
        ax.text(
            p[x],
            p["d_stft"],
            p["name"] if colour_by == "model" else f"{label(p['model'], p['size'])} {p['name']}",
            fontsize=7,
            zorder=5,
        )
        for p in named
    ]
    if texts:
        avoid = label_rings(ax, np.array([[p[x], p["d_stft"]] for p in points], dtype=float), radius_px=12)
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
            iter_lim=LABEL_STEPS,
        )


def _prepared(rows: list[dict]) -> list[dict]:
    """The measured rows, numbers as floats and flags as bools (a row read back from CSV has strings), each
    with the name its point is labelled with."""
    measured = [row for row in rows if row.get("status") == "measured"]
    # The cost job measures the paper's setting and a sweep measures it again as its baseline: both are kept.
    repeated = Counter((r.get("model"), r.get("size"), r.get("setting"), r.get("hardware")) for r in measured)
    out = []
    for row in measured:
        setting = str(row.get("setting") or row.get("setting_label") or "?")
        twice = repeated[(row.get("model"), row.get("size"), row.get("setting"), row.get("hardware"))] > 1
        out.append(
            row
            | {
                "d_stft": _number(row.get("d_stft")),
                "real_time_factor": _number(row.get("real_time_factor")),
                "energy_joules_per_audio_second": _number(row.get("energy_joules_per_audio_second")),
                "unstable": _unstable(row.get("stable")),
                "precision": str(row.get("precision") or ""),
                "energy_method": str(row.get("energy_method") or "measured"),
                "energy_basis": str(row.get("energy_basis") or "gross"),
                "name": f"{setting} ({row['measurement']})" if twice and row.get("measurement") else setting,
            }
        )
    return out


def setting_pareto_figure(rows: list[dict], out_stem: Path, colour_by: str = "model") -> None:
    """D_STFT against energy per second of audio and against real-time factor, one point per measured
    setting (energy-dataset rows), colour by ``colour_by`` ("model" or "hardware"), marker by precision,
    hollow for estimated energy, a red x on an unstable measurement. Writes ``out_stem``.png and .svg."""
    if colour_by not in COLOUR_BY:
        raise ValueError(f"colour_by: {colour_by!r} is not one of {', '.join(COLOUR_BY)}")
    title = "D_STFT against the cost of each deployment setting"
    measured = _prepared(rows)
    if not measured:
        _empty_figure(title, out_stem)
        return
    energy = "energy_joules_per_audio_second"
    panels = []
    for x in (energy, "real_time_factor"):
        finite = [p for p in measured if math.isfinite(p["d_stft"]) and math.isfinite(p[x]) and p[x] > 0]
        panels.append((x, finite))
    bases = " / ".join(dict.fromkeys(p["energy_basis"] for p in measured))
    xlabels = {
        energy: f"energy, J per second of audio ({bases}; log)",
        "real_time_factor": "real-time factor (log; below 1 is faster than real time)",
    }
    plotted = [p for _, points in panels for p in points]
    keys = sorted({_colour_key(p, colour_by) for p in plotted})
    colours = _palette(keys)
    # Taller panels where labels crowd (a label names the model too when colour is the machine).
    crowd = max(len(points) for _, points in panels) * (2 if colour_by == "hardware" else 1)
    height = 5.6 + 2.4 * min(1.0, max(0, crowd - 12) / 36)
    fig, axes = plt.subplots(1, 2, figsize=(13, height), constrained_layout=True)
    for ax, (x, points) in zip(axes, panels):
        # Only energy has a method: the time of every setting is measured, so one front on that panel.
        _setting_panel(ax, points, x, xlabels[x], colours, colour_by, by_method=x == energy)
    handles = [Line2D([], [], marker="o", ls="", color=colours[key], label=key) for key in keys]
    precisions = {p["precision"] for p in plotted}
    ordered = [p for p in PRECISION_MARKERS if p in precisions] + sorted(precisions - set(PRECISION_MARKERS))
    handles += [
        Line2D([], [], marker=PRECISION_MARKERS.get(p, OTHER_PRECISION_MARKER), ls="", color="k", label=p)
        for p in ordered
    ]
    estimated = any(p["energy_method"] == "estimated" for p in plotted)
    if estimated:
        handles.append(Line2D([], [], marker="o", ls="", mfc="none", mec="k", label="hollow: estimated energy"))
    if any(p["unstable"] for p in plotted):
        handles.append(Line2D([], [], marker="x", ls="", color=UNSTABLE_COLOUR, ms=8, label="unstable"))
    handles.append(Line2D([], [], color="red", alpha=0.6, label="Pareto front"))
    if estimated:
        handles.append(Line2D([], [], color="red", alpha=0.6, ls="--", label="Pareto front (estimated energy)"))
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    machines = {str(p.get("hardware") or "unknown machine") for p in measured}
    title += f"\n{_count(len(measured), 'measurement')} on {_count(len(machines), 'machine')}"
    if len(rows) > len(measured):
        skipped = len(rows) - len(measured)
        title += f"; {_count(skipped, 'setting')} not measured (skipped)"
    left_out = [
        f"{len(measured) - len(points)} on the {SHORT[x]} panel" for x, points in panels if len(points) < len(measured)
    ]
    if left_out:  # e.g. net energy where no idle baseline could be measured: say so rather than drop it
        title += "\nnot plotted (no finite value): " + ", ".join(left_out)
    fig.suptitle(title)
    _save(fig, out_stem)
