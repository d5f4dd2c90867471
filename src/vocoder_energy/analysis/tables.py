"""Table 1 (quality) and Table 2 (cost) counterparts for the user's runs, the paper's values beside each
column (``paper_*``), as CSV and Markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vocoder_energy.analysis.paper import paper_families, paper_tables
from vocoder_energy.analysis.pareto import ANALYSIS_PREFIXES
from vocoder_energy.core.files import write_text
from vocoder_energy.listening.ratings import GROUND_TRUTH


def _paper(columns: dict[str, str]) -> pd.DataFrame:
    """The paper's rows with ``columns`` renamed (paper name -> our name with a ``paper_`` prefix)."""
    table = paper_tables()
    return table[["model", "size", *columns]].rename(columns=columns)


def _interleave(frame: pd.DataFrame, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """Our column then the paper's, for each pair present; model, size, ``in_paper`` (whether the paper
    studied the model: Vocos and BigVGAN, for one, are not in it, nor is any released checkpoint) and
    ``weights`` (trained here, released or untrained) and the model's rate first."""
    released = frame["weights"].eq("released") if "weights" in frame else pd.Series(False, index=frame.index)
    frame = frame.assign(in_paper=frame["model"].isin(paper_families() | {GROUND_TRUTH}) & ~released)
    order = ["model", "size", "in_paper"] + [c for c in ("weights", "sample_rate_hz") if c in frame]
    for ours, theirs in pairs:
        order += [c for c in (ours, f"{ours}_ci_low", f"{ours}_ci_high", theirs) if c in frame and c not in order]
    return frame[order + [c for c in frame.columns if c not in order]]


def table1(runs: pd.DataFrame, mos: pd.DataFrame | None = None, ground_truth: dict | None = None) -> pd.DataFrame:
    """MOS (with its bootstrap interval, when rated) and D_STFT per run beside the paper's, plus every
    objective metric computed; a ground truth row when it was rated or scored by a MOS predictor
    (``ground_truth``: the ground_truth_quality document)."""
    costs = {"gflops", "energy", "energy_method", "parameters_millions", "real_time_factor"}
    quality_columns = [c for c in runs.columns if c not in costs and not c.startswith(ANALYSIS_PREFIXES)]
    frame = runs[quality_columns].copy()
    truth = ground_truth_row(mos, ground_truth)
    if truth:
        frame = pd.concat([pd.DataFrame([truth]), frame], ignore_index=True)
    paper = _paper({"mos": "paper_mos", "mos_pm": "paper_mos_pm", "d_stft": "paper_d_stft"})
    frame = frame.merge(paper, on=["model", "size"], how="left")
    return _interleave(frame, [("mos", "paper_mos"), ("mos_pm", "paper_mos_pm"), ("d_stft", "paper_d_stft")])


def ground_truth_row(mos: pd.DataFrame | None, ground_truth: dict | None) -> dict | None:
    """The reference recordings as a row of Table 1: their MOS when rated, their predicted MOS columns
    when scored; D_STFT 0 (a clip against itself). None when there is neither."""
    row = {}
    if mos is not None and (mos["system"] == GROUND_TRUTH).any():
        rated = mos[mos["system"] == GROUND_TRUTH].iloc[0]
        row |= {"mos": rated["mos"], "mos_ci_low": rated["boot_ci_low"], "mos_ci_high": rated["boot_ci_high"]}
    for name, value in (ground_truth or {}).get("metrics", {}).items():
        row |= {name: value["mean"], f"{name}_ci_low": value["ci_low"], f"{name}_ci_high": value["ci_high"]}
    return {"model": GROUND_TRUTH, "size": "", "d_stft": 0.0, **row} if row else None


def table2(runs: pd.DataFrame) -> pd.DataFrame:
    """Parameters (M), GFLOPs per 16,384-sample clip and energy (J per 100 s of audio, with its method)
    beside the paper's (whose energy column is printed in mJ but read as J, see ``paper``)."""
    extra = [column for column in ("weights", "sample_rate_hz") if column in runs]
    frame = runs[
        ["model", "size", *extra, "parameters_millions", "gflops", "energy", "energy_method", "real_time_factor"]
    ]
    paper = _paper(
        {
            "parameters_millions": "paper_parameters_millions",
            "gflops": "paper_gflops",
            "energy_j_per_100s_audio": "paper_energy",
        }
    )
    frame = frame.merge(paper, on=["model", "size"], how="left")
    return _interleave(
        frame,
        [("parameters_millions", "paper_parameters_millions"), ("gflops", "paper_gflops"), ("energy", "paper_energy")],
    )


def markdown(frame: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table (numbers to ``digits`` significant digits, blanks for missing;
    columns with no value at all left out)."""

    def cell(value) -> str:
        if isinstance(value, bool | np.bool_):
            return "yes" if value else "no"
        if isinstance(value, float | np.floating):
            if np.isnan(value):
                return ""
            # Whole numbers (a sample rate beside a blank row) as they are, not as 1.6e+04.
            return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.{digits}g}"
        return str(value)

    frame = frame.dropna(axis=1, how="all")  # e.g. intervals of a single clip
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_table(frame: pd.DataFrame, csv_path, markdown_path, html_path, caption: str) -> None:
    """The table as CSV, as Markdown under ``caption``, and as an HTML page (what the report shows)."""
    write_text(frame.to_csv(index=False), csv_path)
    write_text(f"{caption}\n\n{markdown(frame)}", markdown_path)
    write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>body{{font-family:sans-serif}}"
        f"td,th{{padding:2px 6px}}</style></head><body><p>{caption}</p>"
        f"{frame.to_html(index=False, na_rep='', float_format=lambda v: f'{v:.4g}')}</body></html>",
        html_path,
    )
