"""Pareto fronts, the summary table and the Pareto figure, on hand-made numbers."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib import pyplot as plt
from matplotlib.collections import PathCollection
from stage_documents import train_json, write_stage_documents
from torch import nn

from vocoder_energy.analysis.objectives import COSTS, quality_objectives
from vocoder_energy.analysis.pareto import nondominated, pareto_analysis, ranks
from vocoder_energy.analysis.plots import _panel, pareto_figure
from vocoder_energy.analysis.runs import runs_figure, runs_frame
from vocoder_energy.analysis.summary import COLUMNS, build_summary
from vocoder_energy.cost.probe import ProbeSettings, measure_cost
from vocoder_energy.models.base import Vocoder

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------ nondominated
def pareto_mask(quality, cost, higher_quality_is_better: bool = False) -> np.ndarray:
    """The front of quality against cost (cost minimised), through the package's one front function."""
    points = np.column_stack([np.asarray(quality, dtype=float), np.asarray(cost, dtype=float)])
    return nondominated(points, [higher_quality_is_better, False])


def read_summary(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_known_front_minimising_both():
    #            A     B     C     D     E     F
    quality = [0.10, 0.20, 0.30, 0.25, 0.30, 0.15]
    cost = [10.0, 5.0, 1.0, 5.0, 2.0, 12.0]
    # D is beaten by B (same cost, better quality), E by C (same quality, cheaper), F by A.
    assert pareto_mask(quality, cost).tolist() == [True, True, True, False, False, False]


def test_exact_ties_are_all_kept():
    quality = [0.1, 0.2, 0.2, 0.3]
    cost = [3.0, 2.0, 2.0, 2.5]
    assert pareto_mask(quality, cost).tolist() == [True, True, True, False]


def test_missing_values_are_never_on_the_front_and_dominate_nothing():
    quality = [float("nan"), 0.2, 0.1, 0.3, 0.05]
    cost = [0.001, 2.0, 5.0, 1.0, float("nan")]
    # Without the NaN rows the three finite points form the front; the NaN rows would otherwise win.
    assert pareto_mask(quality, cost).tolist() == [False, True, True, True, False]
    assert pareto_mask([0.1, float("inf")], [1.0, 0.5]).tolist() == [True, False]
    assert pareto_mask([float("nan")] * 3, [1.0, 2.0, 3.0]).tolist() == [False, False, False]


def test_higher_quality_is_better_flips_the_quality_direction():
    quality = [0.9, 0.8, 0.7, 0.95]
    cost = [2.0, 1.0, 3.0, 4.0]
    # Lower is better: (0.7, 3) and (0.8, 1) are the front; (0.9, 2) is beaten by (0.8, 1).
    assert pareto_mask(quality, cost).tolist() == [False, True, True, False]
    # Higher is better (e.g. MOS): (0.95, 4), (0.9, 2), (0.8, 1); (0.7, 3) is beaten by (0.9, 2).
    assert pareto_mask(quality, cost, higher_quality_is_better=True).tolist() == [True, True, False, True]


def test_single_and_empty_inputs():
    assert pareto_mask([0.5], [3.0]).tolist() == [True]
    mask = pareto_mask([], [])
    assert mask.dtype == bool and mask.shape == (0,)
    assert pareto_mask(np.array([0.2, 0.1]), np.array([1.0, 2.0])).tolist() == [True, True]


def test_groups_have_fronts_and_ranks_of_their_own():
    points = np.array([[0.1, 1.0], [0.2, 2.0], [0.3, 3.0], [0.2, 0.5], [0.4, 4.0]])
    groups = ["measured", "estimated", "measured", "measured", "estimated"]
    # Together only (0.1, 1) and (0.2, 0.5) are efficient; within "estimated", (0.2, 2) beats (0.4, 4).
    assert nondominated(points, [False, False]).tolist() == [True, False, False, True, False]
    assert nondominated(points, [False, False], groups).tolist() == [True, True, False, True, False]
    assert ranks(points, [False, False], groups).tolist() == [1, 1, 2, 1, 2]
    # A row without a group (None or NaN) is on no front and has no rank.
    assert nondominated(points, [False, False], [None, "a", "a", float("nan"), "a"]).tolist() == [
        False,
        True,
        False,
        False,
        False,
    ]
    assert np.isnan(ranks(points, [False, False], [None, "a", "a", "a", "a"])[0])


# ---------------------------------------------------------------------------------- build_summary
def cost_json(*, flops_per_second, joules_per_second, method, domains, assumed_watts, params, rtf=0.05):
    """The structure measure_cost writes (the keys summary_row reads, plus a few around them)."""
    sample_rate = 16000
    return {
        "family": "x",
        "parameters": {"value": params, "unit": "count", "method": "counted"},
        "flops": {
            "per_audio_second": flops_per_second,
            "per_clip": flops_per_second * 1.024,
            "macs_per_audio_second": flops_per_second / 2,
            "clip_frames": 64,
            "clip_seconds": 1.024,
            "sample_rate": sample_rate,
            "unit": "FLOP",
            "method": "counted",
            "by_operator": {"aten.convolution": flops_per_second * 1.024},
        },
        "time": {
            "real_time_factor": rtf,
            "seconds_per_workload": rtf * 100,
            "seconds_per_workload_ci95": 0.01,
            "unit": "s",
            "method": "measured",
        },
        "energy": {
            "joules_per_audio_second": joules_per_second,
            "joules_per_workload": joules_per_second * 100,
            "joules_per_workload_ci95": 0.1,
            "joules_per_clip": joules_per_second * 10,
            "average_watts": joules_per_second / rtf,
            "unit": "J",
            "method": method,
            "backend": "nvml" if method == "measured" else "estimated",
            "domains": domains,
            "assumed_watts": assumed_watts,
            "joules_per_audio_second_ci95": 0.001,
            "power_limit_watts": 230.0 if method == "measured" else None,
            "flags": [],
            "idle": {
                "watts": 60.0 if method == "measured" else None,
                "watts_ci95": 1.0 if method == "measured" else None,
            },
            "net": {
                "joules_per_audio_second": joules_per_second * 0.75 if method == "measured" else None,
                "joules_per_audio_second_ci95": 0.002 if method == "measured" else None,
                "joules_per_workload": joules_per_second * 75 if method == "measured" else None,
                "method": method if method == "measured" else "unavailable",
            },
        },
        "memory": {"peak_bytes": 1024, "unit": "B", "method": "measured"},
        "workload": {"clips": 10, "frames_per_clip": 625, "audio_seconds": 100.0},
        "context": {"device": "cuda:0" if domains and domains[0].startswith("nvidia") else "cpu", "threads": 1},
        "probe": {},
    }


JOBS = [  # model, size, d_stft, GFLOP/s of audio, J/s of audio, method
    ("melgan", "S", 0.15, 1.0, 2.0, "measured"),
    ("hifigan", "S", 0.10, 2.0, 3.0, "measured"),
    ("hifigan", "L", 0.08, 30.0, 1.0, "estimated"),
    ("wavegrad", "M", 0.12, 40.0, 50.0, "measured"),
]
# Quality vs GFLOPs: melgan S (cheapest), hifigan S, hifigan L (best quality); wavegrad M is beaten by hifigan S.
FRONT_GFLOPS = [True, True, True, False]
# Quality vs energy, per energy method (measured and estimated never share a front): among the measured,
# melgan S (cheapest) and hifigan S (best) beat wavegrad M; hifigan L, the one estimate, is its own front.
FRONT_ENERGY = [True, True, True, False]


@pytest.fixture
def summary_inputs(tmp_path):
    train, quality, cost, jobs = [], [], [], []
    for i, (model, size, d, gflops, joules, method) in enumerate(JOBS):
        measured = method == "measured"
        documents = {
            "train": train_json(steps=1000 * (i + 1), seconds=60.5 * (i + 1)),
            "quality": {"d_stft": {"value": d, "unit": "ln-power distance", "method": "measured"}, "clips": 10},
            "cost": cost_json(
                flops_per_second=gflops * 1e9,
                joules_per_second=joules,
                method=method,
                domains=["nvidia_gpu_0"] if measured else [],
                assumed_watts=None if measured else 300.0,
                params=100_000 * (i + 1),
            ),
        }
        for stage, lists in (("train", train), ("quality", quality), ("cost", cost)):
            path = tmp_path / stage / f"{model}_{size}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(documents[stage]))
            lists.append(str(path))
        jobs.append((model, size))
    return jobs, train, quality, cost, tmp_path / "summary.csv"


def test_summary_csv_has_the_header_and_one_row_per_job(summary_inputs):
    jobs, train, quality, cost, out = summary_inputs
    rows = build_summary(jobs, train, quality, cost, out, energy_basis="gross")
    assert len(rows) == len(JOBS)
    with open(out, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        body = list(reader)
    assert header == COLUMNS
    assert len(body) == len(JOBS)
    assert [(r[0], r[1]) for r in body] == jobs
    assert read_summary(out)[1]["model"] == "hifigan"


def test_summary_units_and_methods(summary_inputs):
    jobs, train, quality, cost, out = summary_inputs
    build_summary(jobs, train, quality, cost, out, energy_basis="gross")
    rows = read_summary(out)
    for i, ((model, size, d, gflops, joules, method), row) in enumerate(zip(JOBS, rows)):
        assert (row["model"], row["size"]) == (model, size)
        assert int(row["parameters"]) == 100_000 * (i + 1)
        assert int(row["train_steps"]) == 1000 * (i + 1)
        assert float(row["train_seconds"]) == pytest.approx(60.5 * (i + 1))
        assert int(row["train_batch_size"]) == 16 and row["train_device"] == "cpu"
        assert float(row["train_energy_kwh"]) == pytest.approx(250 * 60.5 * (i + 1) / 3.6e6)
        assert float(row["train_kg_co2eq"]) == pytest.approx(0.7 * 250 * 60.5 * (i + 1) / 3.6e6)
        assert row["train_energy_method"] == "estimated"
        assert float(row["d_stft"]) == pytest.approx(d)
        assert row["d_stft_method"] == "measured"
        assert float(row["gflops_per_audio_second"]) == pytest.approx(gflops)  # FLOPs / 1e9
        assert float(row["gmacs_per_audio_second"]) == pytest.approx(gflops / 2)
        # One 16,384-sample clip at 16 kHz is 1.024 s of audio.
        assert float(row["gflops_per_16384_samples"]) == pytest.approx(gflops * 16384 / 16000)
        assert row["flops_method"] == "counted"
        assert "inference_seconds_per_audio_second" not in row  # one column per quantity
        assert float(row["real_time_factor"]) == pytest.approx(0.05)
        assert float(row["energy_joules_per_audio_second"]) == pytest.approx(joules)
        assert float(row["energy_joules_per_workload"]) == pytest.approx(joules * 100)
        assert row["energy_method"] == method
        if method == "measured":
            assert row["energy_domains"] == "nvidia_gpu_0"
            assert row["assumed_watts"] == ""
            assert row["device"] == "cuda:0"
        else:
            assert row["energy_domains"] == "none"
            assert float(row["assumed_watts"]) == 300.0
            assert row["device"] == "cpu"


def test_summary_pareto_flags(summary_inputs):
    jobs, train, quality, cost, out = summary_inputs
    rows = build_summary(jobs, train, quality, cost, out, energy_basis="gross")
    assert [r["pareto_d_stft_vs_gflops"] for r in rows] == FRONT_GFLOPS
    assert [r["pareto_d_stft_vs_energy"] for r in rows] == FRONT_ENERGY
    written = read_summary(out)
    assert [r["pareto_d_stft_vs_gflops"] == "True" for r in written] == FRONT_GFLOPS
    assert [r["pareto_d_stft_vs_energy"] == "True" for r in written] == FRONT_ENERGY


def test_summary_non_16_khz_flops_per_clip(tmp_path):
    document = cost_json(
        flops_per_second=8e9,
        joules_per_second=1.0,
        method="measured",
        domains=["package-0"],
        assumed_watts=None,
        params=1,
    )
    document["flops"]["sample_rate"] = 22050
    paths = write_stage_documents(tmp_path, train_json(steps=1, seconds=1.0), 0.1, document)
    (row,) = build_summary([("melgan", "S")], *([str(p)] for p in paths), tmp_path / "s.csv", energy_basis="gross")
    assert row["gflops_per_16384_samples"] == pytest.approx(8.0 * 16384 / 22050)
    assert row["energy_domains"] == "package-0"
    assert row["pareto_d_stft_vs_gflops"] is True and row["pareto_d_stft_vs_energy"] is True


@pytest.mark.parametrize("short", ["train", "quality", "cost", "jobs"])
def test_summary_rejects_misaligned_inputs(summary_inputs, short):
    jobs, train, quality, cost, out = summary_inputs
    lists = {"jobs": jobs, "train": train, "quality": quality, "cost": cost}
    lists[short] = lists[short][:-1]  # a job would otherwise silently vanish from the table
    with pytest.raises(ValueError):
        build_summary(lists["jobs"], lists["train"], lists["quality"], lists["cost"], out, energy_basis="gross")


class TinyVocoder(Vocoder):
    family = "tiny"
    presets = {}

    def __init__(self):
        super().__init__(n_mels=4, hop_length=8)
        self.generator = nn.ConvTranspose1d(4, 1, 8, 8)

    def infer(self, mel):
        return torch.tanh(self.generator(mel)).squeeze(1)


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN:UserWarning")
def test_summary_reads_what_measure_cost_writes(tmp_path):
    """The keys summary_row reads exist in a real measure_cost result (estimated: no meter here)."""
    probe = ProbeSettings(
        clips=2, seconds=0.064, flops_frames=4, windows=2, min_window_seconds=0.0, warmup=1, meter="estimated"
    )
    result = measure_cost(TinyVocoder(), probe, torch.device("cpu"))
    paths = write_stage_documents(tmp_path, train_json(steps=3, seconds=0.5), 0.2, result)
    (row,) = build_summary([("tiny", "S")], *([str(p)] for p in paths), tmp_path / "s.csv", energy_basis="gross")
    clip_flops = 2 * 4 * 1 * 8 * 4  # C_in x C_out x K x L_in MACs, x 2
    assert row["gflops_per_16384_samples"] == pytest.approx(clip_flops / (4 * 8) * 16384 / 1e9)
    assert row["parameters"] == 4 * 1 * 8 + 1
    assert row["energy_method"] == "estimated"
    assert row["assumed_watts"] == 300.0
    assert row["energy_domains"] == "none"
    assert row["energy_joules_per_audio_second"] == pytest.approx(row["real_time_factor"] * 300.0)
    assert list(row) == COLUMNS


# ----------------------------------------------------------------------------------- pareto_figure
def analysed_runs(summary_inputs, quality="d_stft"):
    """The summary of ``summary_inputs`` through the analysis, as the workflow's analysis rule does."""
    jobs, train, quality_paths, cost, out = summary_inputs
    build_summary(jobs, train, quality_paths, cost, out, energy_basis="gross")
    frame = runs_frame(pd.read_csv(out, dtype={"size": str}))
    objective = quality_objectives()[quality]
    analysed, _ = pareto_analysis(
        frame, objective, [COSTS["gflops"], COSTS["energy"]], partitions={"energy": "energy_method"}
    )
    return analysed, objective


def test_pareto_figure_writes_svg_and_png_for_mixed_energy_methods(summary_inputs):
    runs, quality = analysed_runs(summary_inputs)
    assert set(runs["energy_method"]) == {"measured", "estimated"}
    out = summary_inputs[-1]
    svg, png = out.parent / "figures" / "pareto.svg", out.parent / "figures" / "pareto.png"
    svg.parent.mkdir()
    open_before = plt.get_fignums()
    pareto_figure(
        runs, quality, [COSTS["gflops"], COSTS["energy"]], [svg, png], method_columns={"energy": "energy_method"}
    )
    assert png.stat().st_size > 1000
    assert png.read_bytes()[:8] == PNG_MAGIC
    text = svg.read_text()
    assert "<svg" in text and text.rstrip().endswith("</svg>")
    assert "energy estimated (own front)" in text  # the legend says what hollow markers are
    assert plt.get_fignums() == open_before  # the figure was closed


@pytest.mark.parametrize(
    ("quality", "expected"),
    [
        ("d_stft", "paper (Tables 1-2)"),
        ("dnsmos_p808", "not on this axis (it reported MOS and D_STFT, not dnsmos_p808)"),
    ],
)
def test_the_paper_s_points_are_drawn_or_their_absence_said(summary_inputs, quality, expected):
    jobs, train, quality_paths, cost, out = summary_inputs
    build_summary(jobs, train, quality_paths, cost, out, energy_basis="gross")
    frame = runs_frame(pd.read_csv(out, dtype={"size": str}))
    frame["dnsmos_p808"] = np.linspace(2.0, 3.5, len(frame))  # a predicted MOS: the paper has none
    analysed, _ = pareto_analysis(
        frame, quality_objectives()[quality], [COSTS["gflops"], COSTS["energy"]], partitions={"energy": "energy_method"}
    )
    analysed.to_csv(out.parent / "pareto.csv", index=False)
    (out.parent / "hypervolume.json").write_text(json.dumps({"quality": quality}))
    svg = out.parent / "pareto.svg"
    runs_figure(out.parent / "pareto.csv", out.parent / "hypervolume.json", ["gflops", "energy"], True, [svg])
    assert expected in svg.read_text()


def _row_markers(ax, n_rows):
    collections = [c for c in ax.collections if isinstance(c, PathCollection)]
    return collections[:n_rows], collections[n_rows:]


@pytest.mark.parametrize(("cost", "expect_hollow"), [("energy", [False, False, True, False]), ("gflops", [False] * 4)])
def test_estimated_energy_is_drawn_hollow_and_the_front_circled(summary_inputs, cost, expect_hollow):
    runs, quality = analysed_runs(summary_inputs)
    fig, ax = plt.subplots()
    try:
        _panel(ax, runs, quality, COSTS[cost], None, "energy_method" if cost == "energy" else None, None)
        points, rest = _row_markers(ax, len(runs))
        hollow = [len(p.get_facecolors()) == 0 or p.get_facecolors()[0][3] == 0 for p in points]
        assert hollow == expect_hollow
        red = [c for c in rest if len(c.get_edgecolors()) and tuple(c.get_edgecolors()[0][:3]) == (1.0, 0.0, 0.0)]
        circled = {tuple(np.round(c.get_offsets()[0], 9)) for c in red}
        front = runs[runs[f"on_front_{cost}"]]
        expected = {(round(x, 9), round(y, 9)) for x, y in zip(front[cost], front["d_stft"])}
        assert circled == expected
        assert ax.get_xscale() == ax.get_yscale() == "log"
    finally:
        plt.close(fig)


def test_rows_without_a_finite_quality_are_named_not_plotted(summary_inputs):
    runs, quality = analysed_runs(summary_inputs)
    runs.loc[0, "d_stft"] = float("nan")  # a diverged model's NaN audio
    fig, ax = plt.subplots()
    try:
        left_out = _panel(ax, runs, quality, COSTS["gflops"], None, None, None)
        points, _ = _row_markers(ax, len(runs) - 1)
        assert len([p for p in points if len(p.get_offsets()) == 1]) == len(runs) - 1
        assert left_out == ["MelGAN S"]
    finally:
        plt.close(fig)
