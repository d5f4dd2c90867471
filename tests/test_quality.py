"""D_STFT: identity, symmetry, monotone growth with corruption, input forms, errors, golden values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vocoder_energy.evaluation.quality import evaluate_quality
from vocoder_energy.evaluation.spectral_distance import d_stft

SR = 16000
CLIP = 16384


def db(gain_db: float) -> float:
    return 10.0 ** (gain_db / 20.0)


def sine(freq: float = 440.0, amplitude: float = 0.1, n: int = CLIP) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(n) / SR)


def speech_like(seed: int = 0, dbfs: float = -20.0, n: int = CLIP) -> np.ndarray:
    """A voiced, formant-shaped harmonic signal with a gliding f0 and syllable-rate envelope, at an RMS of ``dbfs``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    f0 = 140 + 30 * np.sin(2 * np.pi * 3 * t) + 10 * seed
    phase = 2 * np.pi * np.cumsum(f0) / SR
    signal = np.zeros(n)
    for k in range(1, 40):
        centre = k * 140
        formants = (
            np.exp(-(((centre - 500) / 300) ** 2))
            + 0.5 * np.exp(-(((centre - 1500) / 400) ** 2))
            + 0.3 * np.exp(-(((centre - 2500) / 500) ** 2))
            + 0.05
        )
        signal += np.where(k * f0 < SR / 2, formants / k * np.sin(k * phase), 0.0)
    signal *= 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    signal += 0.02 * np.std(signal) * rng.standard_normal(n)
    return signal * db(dbfs) / np.sqrt(np.mean(signal**2))


def reference_d_stft(reference: np.ndarray, generated: np.ndarray, n_fft: int = 1024, hop: int = 256) -> float:
    """An independent numpy D_STFT: reflect padding n_fft/2, periodic Hann, frames every hop, rfft."""

    def log_power(audio: np.ndarray) -> np.ndarray:
        audio = np.atleast_2d(np.asarray(audio, dtype=np.float64))
        padded = np.pad(audio, ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
        frames = 1 + (padded.shape[-1] - n_fft) // hop
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
        stacked = np.stack([padded[:, i * hop : i * hop + n_fft] * window for i in range(frames)], axis=-1)
        spectrum = np.fft.rfft(stacked, axis=1)  # (batch, n_fft/2 + 1, frames)
        assert spectrum.shape[1] == n_fft // 2 + 1
        return np.log1p(spectrum.real**2 + spectrum.imag**2)

    return float(np.abs(log_power(reference) - log_power(generated)).mean())


# ------------------------------------------------------------------------------------------ basics
def test_identical_signals_score_zero():
    x = speech_like()
    assert d_stft(x, x) == 0.0
    batch = np.stack([speech_like(0), speech_like(1)])
    assert d_stft(batch, batch.copy()) == 0.0


def test_distance_is_symmetric_and_positive_for_different_signals():
    x, y = speech_like(0), speech_like(1)
    forward, backward = d_stft(x, y), d_stft(y, x)
    assert forward > 0
    assert forward == pytest.approx(backward, rel=1e-6)


@pytest.mark.parametrize("make", [speech_like, sine], ids=["speech_like", "sine"])
def test_grows_monotonically_with_gain_error(make):
    x = make()
    scores = [d_stft(x, x * db(g)) for g in (0.0, -1.0, -3.0, -6.0)]
    assert scores[0] == 0.0
    assert all(a < b for a, b in zip(scores, scores[1:])), scores


def test_grows_monotonically_with_additive_noise():
    x = speech_like()
    noise = np.random.default_rng(123).standard_normal(CLIP)
    scores = [d_stft(x, x + level * noise) for level in (0.0, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)]
    assert scores[0] == 0.0
    assert all(a < b for a, b in zip(scores, scores[1:])), scores


# ------------------------------------------------------------------------------------- input forms
def test_accepts_numpy_and_torch_in_any_combination():
    x, y = speech_like(0), speech_like(0) * db(-3)
    expected = d_stft(x, y)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    assert d_stft(xt, yt) == pytest.approx(expected, rel=1e-6)  # float64 tensors
    assert d_stft(xt.float(), yt.float()) == pytest.approx(expected, rel=1e-6)
    assert d_stft(x, yt.float()) == pytest.approx(expected, rel=1e-6)
    assert d_stft(xt.float(), y) == pytest.approx(expected, rel=1e-6)
    assert d_stft(x.tolist(), y.tolist()) == pytest.approx(expected, rel=1e-6)


def test_single_clip_equals_batch_of_one_and_batch_is_the_mean_of_clips():
    clips = [speech_like(seed) for seed in range(3)]
    degraded = [c * db(-2) + 0.003 * np.sin(np.arange(CLIP) * (0.3 + s)) for s, c in enumerate(clips)]
    assert d_stft(clips[0], degraded[0]) == pytest.approx(d_stft(clips[0][None], degraded[0][None]), rel=1e-6)
    per_clip = [d_stft(c, d) for c, d in zip(clips, degraded)]
    batch = d_stft(np.stack(clips), np.stack(degraded))
    # Every clip has the same number of bins and frames, so the batch mean is the mean of clip means.
    assert batch == pytest.approx(np.mean(per_clip), rel=1e-5)
    assert min(per_clip) < batch < max(per_clip)
    torch_batch = d_stft(torch.from_numpy(np.stack(clips)).float(), torch.from_numpy(np.stack(degraded)).float())
    assert torch_batch == pytest.approx(batch, rel=1e-6)


@pytest.mark.parametrize(
    ("reference_shape", "generated_shape"),
    [((CLIP,), (CLIP - 256,)), ((2, CLIP), (CLIP,)), ((2, CLIP), (3, CLIP)), ((1, CLIP), (CLIP,))],
)
def test_shape_mismatch_raises_value_error(reference_shape, generated_shape):
    with pytest.raises(ValueError, match="shape"):
        d_stft(np.zeros(reference_shape), np.zeros(generated_shape))
    with pytest.raises(ValueError, match="shape"):
        d_stft(torch.zeros(reference_shape), torch.zeros(generated_shape))


# ------------------------------------------------------------------------------------ golden values
def test_golden_value_sine_with_3_db_gain_error():
    x = sine(440.0, 0.1)
    y = x * db(-3.0)
    value = d_stft(x, y)
    independent = reference_d_stft(x.astype(np.float32), y.astype(np.float32))
    assert value == pytest.approx(independent, rel=1e-5)
    assert value == pytest.approx(0.006702, rel=1e-4)  # pinned to 4 significant digits


def test_matches_independent_implementation_on_a_batch_of_different_signals():
    x = np.stack([speech_like(0), sine(1000.0, 0.3)]).astype(np.float32)
    y = np.stack([speech_like(2), sine(1010.0, 0.25) + 0.01 * speech_like(3)]).astype(np.float32)
    assert d_stft(x, y) == pytest.approx(reference_d_stft(x, y), rel=1e-5)


def test_gain_error_on_speech_like_signal_is_in_the_documented_range():
    # quality.md: a pure -3 dB gain error at -20 dBFS scores ~0.077 on speech.
    x = speech_like(dbfs=-20.0)
    assert 0.03 < d_stft(x, x * db(-3.0)) < 0.2


def test_distance_depends_on_absolute_level():
    # quality.md: roughly halves per 6 dB quieter (both signals scaled together).
    loud, quiet = speech_like(dbfs=-20.0), speech_like(dbfs=-26.0)
    ratio = d_stft(quiet, quiet * db(-3.0)) / d_stft(loud, loud * db(-3.0))
    assert 0.35 < ratio < 0.8


def test_evaluate_quality_reports_value_method_and_clip_count():
    reference = np.stack([speech_like(0), speech_like(1)])
    generated = reference * db(-3.0)
    result = evaluate_quality(reference, generated)
    assert result["clips"] == 2
    assert result["d_stft"]["method"] == "measured"
    assert result["d_stft"]["value"] == pytest.approx(d_stft(reference, generated), rel=1e-9)
