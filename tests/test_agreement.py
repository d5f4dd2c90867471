"""Predicted against human MOS: correlations with known answers, their bootstrap intervals, the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vocoder_energy.analysis import agreement


def rated_runs(human, predicted, d_stft) -> pd.DataFrame:
    n = len(human)
    return pd.DataFrame(
        {
            "model": ["melgan", "hifigan", "waveglow", "waveflow", "wavegrad", "diffwave"][:n],
            "size": ["S"] * n,
            "mos": human,
            "mos_ci_low": np.array(human) - 0.2,
            "mos_ci_high": np.array(human) + 0.2,
            "dnsmos_p808": predicted,
            "dnsmos_p808_ci_low": np.array(predicted) - 0.1,
            "dnsmos_p808_ci_high": np.array(predicted) + 0.1,
            "d_stft": d_stft,
        }
    )


def test_correlations_over_systems_have_the_known_values():
    # Ranks 1..5 against 2,1,4,3,5: both correlations are 1 - 6 * 4 / (5 * 24) = 0.8.
    # D_STFT falls as listeners like a system more, but not linearly: Spearman exactly -1, Pearson not.
    runs = rated_runs([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 5.0], [0.9, 0.5, 0.3, 0.2, 0.19])
    table = agreement.correlations_with_mos(runs, resamples=500).set_index("metric")
    assert list(table.index) == ["dnsmos_p808", "d_stft"]  # the predicted MOS first
    assert table.loc["dnsmos_p808", "pearson"] == pytest.approx(0.8)
    assert table.loc["dnsmos_p808", "spearman"] == pytest.approx(0.8)
    assert table.loc["d_stft", "spearman"] == pytest.approx(-1.0)
    assert -1.0 < table.loc["d_stft", "pearson"] < -0.8
    assert table.loc["d_stft", "higher_is_better"] == False  # noqa: E712 (numpy bool)
    for metric, row in table.iterrows():
        for kind in ("pearson", "spearman"):
            low, value, high = row[f"{kind}_ci_low"], row[kind], row[f"{kind}_ci_high"]
            assert -1.0 <= low <= value <= high <= 1.0, (metric, kind, low, value, high)
    assert table.loc["d_stft", "spearman_ci_high"] == pytest.approx(-1.0)  # every resample ranks alike
    assert table.loc["dnsmos_p808", "systems"] == 5


def test_a_perfect_predictor_and_too_few_systems():
    perfect = agreement.correlations_with_mos(rated_runs([2.0, 3.0, 4.5], [2.5, 3.0, 3.75], [1, 1, 1]), resamples=200)
    row = perfect.set_index("metric").loc["dnsmos_p808"]
    assert row["pearson"] == pytest.approx(1.0) and row["spearman"] == pytest.approx(1.0)
    assert "d_stft" in set(perfect["metric"]) and np.isnan(perfect.set_index("metric").loc["d_stft", "pearson"])
    two = agreement.correlations_with_mos(rated_runs([2.0, 3.0], [2.5, 3.0], [0.5, 0.4]), resamples=50)
    assert two["systems"].tolist() == [2, 2] and two["pearson"].isna().all()  # undefined, not made up


def test_unrated_systems_are_left_out_and_the_outputs_are_written(tmp_path):
    runs = rated_runs([1.0, 2.0, 3.0, 4.0], [2.0, 2.5, 3.0, 3.5], [0.4, 0.3, 0.2, 0.1])
    runs.loc[3, ["mos", "mos_ci_low", "mos_ci_high"]] = np.nan  # not in the listening test
    figure = [tmp_path / "agreement.png", tmp_path / "agreement.svg"]
    table = agreement.write_agreement(runs, tmp_path / "systems.csv", tmp_path / "correlations.csv", figure, 100)
    assert table.set_index("metric").loc["dnsmos_p808", "systems"] == 3
    systems = pd.read_csv(tmp_path / "systems.csv")
    assert systems["model"].tolist() == ["melgan", "hifigan", "waveglow"]
    assert {"mos", "mos_ci_low", "dnsmos_p808", "dnsmos_p808_ci_high"} <= set(systems.columns)
    assert figure[0].read_bytes().startswith(b"\x89PNG") and "Predicted against human MOS" in figure[1].read_text()
    assert "Pearson 1.00 [" in figure[1].read_text()  # the three rated systems lie on a line
    agreement.write_agreement(runs.iloc[:2], tmp_path / "s.csv", tmp_path / "c.csv", figure, 100)
    assert "it needs 3 rated systems that differ (2 rated)" in figure[1].read_text()  # said, not "nan"


def test_resamples_of_two_distinct_systems_do_not_pin_the_interval_at_minus_one():
    # Four systems, r = 0.8; a resample holding only systems 2 and 3 (about 5 % of them) correlates -1.
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])
    assert agreement.correlation(x, y, "pearson") == pytest.approx(0.8)
    low, high = agreement.bootstrap_interval(x, y, "pearson")
    assert 0.0 < low < 0.8 < high <= 1.0


def test_a_user_s_own_predictor_is_the_one_set_against_the_listeners(tmp_path):
    runs = rated_runs([1.0, 2.0, 3.0], [2.0, 2.5, 3.0], [0.4, 0.3, 0.2]).rename(
        columns=lambda c: c.replace("dnsmos_p808", "local_mos")
    )
    figure = [tmp_path / "agreement.svg"]
    table = agreement.write_agreement(runs, tmp_path / "systems.csv", tmp_path / "correlations.csv", figure, 100)
    assert table["metric"].tolist() == ["local_mos", "d_stft"]
    assert "local_mos_ci_high" in pd.read_csv(tmp_path / "systems.csv").columns
    assert "Predicted MOS, your predictor (local_mos)" in figure[0].read_text()
