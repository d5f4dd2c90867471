"""N-objective Pareto analysis, the paper's numbers as a reference, Table 1/2 counterparts, Figure 2 labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt

from vocoder_energy.analysis.objectives import COSTS
from vocoder_energy.analysis.paper import ENERGY, GFLOPS, MOS, paper_reference_analysis, paper_tables
from vocoder_energy.analysis.pareto import Objective, pareto_analysis
from vocoder_energy.analysis.plots import _panel
from vocoder_energy.analysis.runs import choose_quality, runs_frame
from vocoder_energy.analysis.tables import markdown, table1, table2

PAPER_FRONT = {("melgan", "S"), ("hifigan", "S"), ("hifigan", "L")}


def test_paper_tables_hold_all_18_configurations_and_the_ground_truth():
    table = paper_tables()
    assert len(table) == 19 and (table["model"] == "ground_truth").sum() == 1
    hifigan_l = table[(table["model"] == "hifigan") & (table["size"] == "L")].iloc[0]
    assert (hifigan_l["mos"], hifigan_l["d_stft"], hifigan_l["gflops"]) == (4.12, 0.0712, 40.57)
    assert hifigan_l["parameters_millions"] == 13.94 and hifigan_l["energy_reported"] == 96.61
    # The unit fix keeps the printed number and only renames its unit (mJ printed, J meant).
    assert (table["energy_j_per_100s_audio"].dropna() == table["energy_reported"].dropna()).all()


def test_paper_reference_front_is_melgan_s_hifigan_s_hifigan_l_on_both_costs():
    analysed, volumes = paper_reference_analysis()
    assert list(analysed.columns[:7]) == [
        "model",
        "size",
        "mos",
        "gflops",
        "energy",
        "on_front_gflops",
        "on_front_energy",
    ]
    assert len(analysed) == 18
    for cost in ("gflops", "energy"):
        front = {(m, s) for m, s, f in zip(analysed["model"], analysed["size"], analysed[f"on_front_{cost}"]) if f}
        assert front == PAPER_FRONT, cost
        assert set(analysed.loc[analysed[f"on_front_{cost}"], f"rank_{cost}"]) == {1}
        assert (analysed.loc[~analysed[f"on_front_{cost}"], f"rank_{cost}"] > 1).all()
    # HiFi-GAN M is beaten only by the front (HiFi-GAN S): rank 2 against GFLOPs.
    row = analysed[(analysed["model"] == "hifigan") & (analysed["size"] == "M")].iloc[0]
    assert row["rank_gflops"] == 2 and not row["on_family_front_gflops"]
    assert volumes["gflops"]["hypervolume"] > 0 and len(volumes["gflops"]["reference_point"]) == 2
    assert "J per 100 s" in volumes["energy_unit"]


def test_hypervolume_and_reference_point_on_a_known_set():
    frame = pd.DataFrame({"model": ["a", "b"], "size": ["S", "S"], "q": [2.0, 3.0], "c": [1.0, 2.0]})
    quality, cost = Objective("q", True, "q"), Objective("c", False, "c")
    _, volumes = pareto_analysis(frame, quality, [cost])
    # Nadir (worst q 2, worst c 2) pushed out by 10 % of the ranges (1 and 1): reference (1.9, 2.1).
    assert volumes["c"]["reference_point"] == pytest.approx([1.9, 2.1])
    # Boxes a: 0.1 x 1.1 and b: 1.1 x 0.1, overlapping in 0.1 x 0.1.
    assert volumes["c"]["hypervolume"] == pytest.approx(0.11 + 0.11 - 0.01)


def test_family_sub_fronts_and_the_joint_front_over_three_objectives():
    frame = pd.DataFrame(
        {
            "model": ["x", "x", "x", "y"],
            "size": ["S", "M", "L", "S"],
            "q": [1.0, 2.0, 1.5, 3.0],
            "c1": [1.0, 2.0, 3.0, 10.0],
            "c2": [5.0, 5.0, 1.0, 5.0],
        }
    )
    q, c1, c2 = Objective("q", True, "q"), Objective("c1", False, "c1"), Objective("c2", False, "c2")
    analysed, volumes = pareto_analysis(frame, q, [c1, c2])
    assert analysed["on_front_c1"].tolist() == [True, True, False, True]  # x L: dearer and worse than x M
    assert analysed["on_family_front_c1"].tolist() == [True, True, False, True]
    assert analysed["on_front_c2"].tolist() == [False, False, True, True]
    # Together, x L is the only one cheap on c2, so it joins the three-objective front.
    assert analysed["on_front_all"].tolist() == [True, True, True, True]
    assert volumes["all"]["objectives"] == ["max q", "min c1", "min c2"]


def test_a_point_whose_interval_reaches_the_front_is_possibly_efficient():
    frame = pd.DataFrame(
        {
            "model": ["a", "b", "c"],
            "size": ["S"] * 3,
            "q": [3.0, 2.9, 2.0],
            "q_ci_low": [2.8, 2.7, 1.8],
            "q_ci_high": [3.2, 3.1, 2.2],
            "c": [1.0, 2.0, 3.0],
        }
    )
    analysed, _ = pareto_analysis(
        frame, Objective("q", True, "q"), [Objective("c", False, "c")], quality_ci=("q_ci_low", "q_ci_high")
    )
    assert analysed["on_front_c"].tolist() == [True, False, False]
    assert analysed["possibly_efficient_c"].tolist() == [False, True, False]


def test_measured_and_estimated_energies_never_share_a_front():
    frame = pd.DataFrame(
        {
            "model": ["a", "b", "c"],
            "size": ["S"] * 3,
            "q": [3.0, 2.0, 1.0],
            "energy": [10.0, 1.0, 5.0],
            "energy_method": ["measured", "estimated", "measured"],
        }
    )
    analysed, volumes = pareto_analysis(
        frame, Objective("q", True, "q"), [COSTS["energy"]], partitions={"energy": "energy_method"}
    )
    # Mixed, b (estimated, cheapest) would push c off; apart, c is on the measured front.
    assert analysed["on_front_energy"].tolist() == [True, True, True]
    assert set(volumes) == {"energy (measured)", "energy (estimated)"}


def test_auto_quality_is_mos_only_with_ratings():
    assert choose_quality("auto", has_mos=False).column == "d_stft"
    assert choose_quality("auto", has_mos=True).column == "mos"
    assert choose_quality("pesq_wb", has_mos=False).higher_is_better is True
    with pytest.raises(ValueError, match="data/listening/ratings.csv"):
        choose_quality("mos", has_mos=False)


def summary_frame():
    return pd.DataFrame(
        {
            "model": ["hifigan", "melgan"],
            "size": ["L", "S"],
            "gflops_per_audio_second": [40.0 / 1.024, 1.5 / 1.024],  # 40 and 1.5 per 16,384 samples at 16 kHz
            "energy_joules_per_audio_second": [1.0, 0.5],
            "energy_method": ["measured", "estimated"],
            "parameters": [13_940_000, 1_030_000],
            "real_time_factor": [0.01, 0.002],
            "d_stft": [0.07, 0.15],
            "d_stft_mean": [0.07, 0.15],
            "d_stft_ci_low": [0.06, 0.14],
            "d_stft_ci_high": [0.08, 0.16],
        }
    )


def test_tables_put_the_papers_values_beside_ours():
    mos = pd.DataFrame(
        {
            "system": ["hifigan_L", "melgan_S", "ground_truth"],
            "model": ["hifigan", "melgan", "ground_truth"],
            "size": ["L", "S", ""],
            "mos": [4.0, 1.5, 4.4],
            "boot_ci_low": [3.8, 1.3, 4.2],
            "boot_ci_high": [4.2, 1.7, 4.6],
        }
    )
    runs = runs_frame(summary_frame(), mos)
    first = table1(runs, mos)
    columns = list(first.columns)
    assert columns.index("paper_mos") == columns.index("mos_ci_high") + 1
    assert columns.index("paper_d_stft") == columns.index("d_stft_ci_high") + 1
    assert first["model"].tolist()[0] == "ground_truth" and first["paper_mos"].tolist() == [4.34, 4.12, 1.37]
    assert first["in_paper"].tolist() == [True, True, True]
    vocos = runs.iloc[[0]].assign(model="vocos", size="S")
    second = table2(pd.concat([runs, vocos], ignore_index=True))
    assert second["in_paper"].tolist() == [True, True, False]  # a family the paper did not study says so
    assert second["paper_parameters_millions"].isna().tolist() == [False, False, True]
    second = second.iloc[:2]
    assert list(second.columns[:10]) == [
        "model",
        "size",
        "in_paper",
        "weights",  # trained here (a released checkpoint says so, and is never in_paper)
        "parameters_millions",
        "paper_parameters_millions",
        "gflops",
        "paper_gflops",
        "energy",
        "paper_energy",
    ]
    assert second["energy"].tolist() == [100.0, 50.0]  # J per 100 s of audio, as the paper's workload
    assert second["paper_energy"].tolist() == [96.61, 49.08]
    text = markdown(second)
    assert text.splitlines()[0].startswith("| model | size | in_paper | weights | parameters_millions | paper_param")
    assert "| hifigan | L | yes | trained | 13.94 | 13.94 | 40 | 40.57 | 100 | 96.61 | measured |" in text


def _overlaps(boxes) -> list:
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]


@pytest.mark.parametrize("cost", [GFLOPS, ENERGY])
def test_figure_labels_do_not_overlap_each_other(cost):
    analysed, _ = paper_reference_analysis()
    fig, ax = plt.subplots(figsize=(6.2, 5.2))
    try:
        _panel(ax, analysed, MOS, cost, None, None, None)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert len(boxes) == 18
        assert _overlaps(boxes) == []
        labels = {t.get_text() for t in ax.texts}
        assert {"HiFi-GAN S", "HiFi-GAN M", "HiFi-GAN L", "MelGAN S"} <= labels
        assert np.all([ax.bbox.contains(*b.get_points().mean(axis=0)) for b in boxes])  # inside the axes
    finally:
        plt.close(fig)


def test_the_legend_marks_families_the_paper_did_not_study():
    from vocoder_energy.analysis.plots import family_markers, legend_name

    assert legend_name("hifigan") == "HiFi-GAN"
    assert legend_name("vocos") == "Vocos (not in the paper)"
    assert legend_name("bigvgan") == "BigVGAN-v2 (not in the paper)"
    assert legend_name("myvoc") == "myvoc (not in the paper)"
    markers = family_markers({"hifigan", "vocos", "bigvgan", "myvoc", "other"})
    assert len(set(markers.values())) == 5  # every family its own marker
