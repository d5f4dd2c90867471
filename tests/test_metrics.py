"""Objective metrics: known values and direction on constructed signals, missing packages, aggregation."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from test_quality import speech_like

from vocoder_energy.evaluation import metrics
from vocoder_energy.evaluation.metrics import METRICS, MissingPackageError, freqt, score_clips
from vocoder_energy.evaluation.quality import evaluate_quality
from vocoder_energy.evaluation.spectral_distance import d_stft, d_stft_multiscale

SR = 16000
ALL = [name for name, metric in METRICS.items() if not metric.needs_options]  # local_mos: test_local_predictor


def score_utterance(reference, generated, names, sample_rate):
    return score_clips([reference], [generated], names, sample_rate)[0]


def noisy(signal: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(signal))
    return signal + noise * np.sqrt(np.mean(signal**2)) * 10 ** (-snr_db / 20)


def harmonic(f0: float, seconds: float = 1.0) -> np.ndarray:
    """A steady voiced tone (30 harmonics, 1/k roll-off) at ``f0`` Hz."""
    t = np.arange(int(seconds * SR)) / SR
    return 0.1 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 30) if k * f0 < SR / 2)


@pytest.fixture(scope="module")
def scores():
    """Every metric on the clean reference, then at 30, 20, 10 and 0 dB SNR."""
    reference = speech_like(0)
    levels = [None, 30, 20, 10, 0]
    return [score_utterance(reference, reference if snr is None else noisy(reference, snr), ALL, SR) for snr in levels]


def test_identical_signals_score_the_best_value(scores):
    best = scores[0]
    assert best["pesq_wb"] == pytest.approx(4.64, abs=0.01)  # the P.862.2 ceiling
    assert best["stoi"] == pytest.approx(1.0)
    assert best["mr_stft"] == pytest.approx(0.0, abs=1e-6)
    assert best["mcd_db"] == 0.0 and best["f0_rmse_cents"] == 0.0 and best["vuv_error"] == 0.0


# Against the reference; the MOS predictors judge a clip alone and are tested on real speech (test_dnsmos).
INTRUSIVE = [c.name for m in METRICS.values() if not m.reference_free for c in m.columns if c.name != "vuv_error"]


@pytest.mark.parametrize("column", INTRUSIVE)
def test_each_metric_gets_worse_monotonically_with_noise_in_its_direction(scores, column):
    (spec,) = [c for m in METRICS.values() for c in m.columns if c.name == column]
    values = [s[column] for s in scores[:4]]  # 0 dB leaves too few voiced frames for F0
    sign = -1 if spec.higher_is_better else 1
    steps = np.diff(sign * np.array(values))
    assert np.all(steps > 0), f"{column} ({'higher' if spec.higher_is_better else 'lower'} is better): {values}"


def test_vuv_error_grows_when_noise_drowns_the_voicing(scores):
    assert scores[0]["vuv_error"] == 0.0
    assert scores[-1]["vuv_error"] > 0.5 > scores[2]["vuv_error"]


def test_f0_rmse_reads_a_known_pitch_shift_in_cents():
    reference = harmonic(150.0)
    for cents in (50.0, 100.0, 200.0):
        shifted = harmonic(150.0 * 2 ** (cents / 1200))
        result = score_utterance(reference, shifted, ["f0"], SR)
        assert result["f0_rmse_cents"] == pytest.approx(cents, abs=8.0)  # pYIN's 10-cent grid
        assert result["vuv_error"] < 0.05


def test_vuv_error_is_the_fraction_of_frames_whose_voicing_differs():
    reference = harmonic(150.0)
    half_silent = reference.copy()
    half_silent[len(reference) // 2 :] = 0.0
    result = score_utterance(reference, half_silent, ["f0"], SR)
    assert result["vuv_error"] == pytest.approx(0.5, abs=0.06)


def test_mcd_ignores_level_but_not_spectral_shape():
    reference = speech_like(0)
    assert score_utterance(reference, reference * 0.5, ["mcd"], SR)["mcd_db"] == pytest.approx(0.0, abs=1e-6)
    lowpassed = np.convolve(reference, np.ones(4) / 4, mode="same")  # a spectral tilt
    assert score_utterance(reference, lowpassed, ["mcd"], SR)["mcd_db"] > 1.0


def test_freqt_without_warping_only_truncates():
    cepstrum = np.random.default_rng(0).standard_normal((3, 40))
    np.testing.assert_allclose(freqt(cepstrum, 24, 0.0), cepstrum[:, :25], atol=1e-12)


def test_multiscale_d_stft_is_the_sum_of_four_scales():
    reference, generated = speech_like(0), noisy(speech_like(0), 20)
    expected = sum(d_stft(reference, generated, n, n // 4) for n in (2048, 1024, 512, 256))
    assert d_stft_multiscale(reference, generated) == pytest.approx(expected)
    assert d_stft_multiscale(reference, reference) == 0.0
    assert 2.5 < d_stft_multiscale(reference, generated) / d_stft(reference, generated) < 6  # quality.md: ~4x


def test_a_missing_package_fails_with_its_name(monkeypatch):
    monkeypatch.setitem(sys.modules, "pesq", None)  # import pesq now raises ImportError
    with pytest.raises(MissingPackageError, match=r"'pesq'.*pip install pesq"):
        evaluate_quality(np.zeros((1, 16384)), np.zeros((1, 16384)), metrics=["pesq"])


def test_an_unknown_metric_names_the_choices():
    with pytest.raises(ValueError, match="unknown objective metric 'visqol'.*pesq"):
        metrics.columns(["visqol"])


def test_evaluate_quality_aggregates_per_utterance_with_a_t_interval():
    reference = np.stack([speech_like(0), speech_like(1), speech_like(2)])
    generated = np.stack([noisy(r, 20, seed=i) for i, r in enumerate(reference)])
    generated[2] = np.nan  # a diverged clip: NaN scores, counted
    result = evaluate_quality(reference, generated, ids=["a", "b", "c"], metrics=["stoi", "mcd"], multiscale=True)
    rows = result["utterances"]
    assert [r["utterance"] for r in rows] == ["a", "b", "c"]
    assert np.isnan(rows[2]["stoi"]) and np.isnan(rows[2]["mcd_db"])
    stoi = result["metrics"]["stoi"]
    assert stoi["n"] == 2 and stoi["mean"] == pytest.approx(np.mean([rows[0]["stoi"], rows[1]["stoi"]]))
    assert stoi["ci_low"] < stoi["mean"] < stoi["ci_high"] and stoi["higher_is_better"] is True
    assert result["metrics"]["mcd_db"]["unit"] == "dB" and result["metrics"]["mcd_db"]["higher_is_better"] is False
    assert set(result["metrics"]) == {"d_stft", "d_stft_multiscale", "stoi", "mcd_db"}
    assert result["non_finite_samples"] == 16384
