"""audio.py: mel-spectrogram contract (frames, batch dims, band placement, power), resampling,
length fitting and the errors of load_audio."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from vocoder_energy.data.audio import BadAudioError, fit_length, load_audio, log_mel, mel_spectrogram, resample

SR = 16000


def _tone(freq: float, seconds: float = 1.0, sample_rate: int = SR, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _noise(n: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 0.1)


# --------------------------------------------------------------------------- mel_spectrogram
@pytest.mark.parametrize("hop", [256, 512])
@pytest.mark.parametrize("samples", [2048, 4095, 5000, 8192, 16384])
def test_mel_frame_count_is_samples_floor_div_hop(samples, hop):
    mel = mel_spectrogram(_noise(samples), SR, n_fft=2048, hop_length=hop, n_mels=80)
    assert mel.shape == (80, samples // hop)
    assert torch.isfinite(mel).all()
    assert (mel >= 0).all()


def test_mel_n_mels_argument_is_respected():
    assert mel_spectrogram(_noise(4096), SR, n_mels=40).shape == (40, 16)


def test_mel_batch_dims_are_preserved_and_items_are_independent():
    rng = np.random.default_rng(1)
    audio = torch.from_numpy(rng.standard_normal((2, 3, 4096)).astype(np.float32))
    mel = mel_spectrogram(audio, SR, hop_length=256)
    assert mel.shape == (2, 3, 80, 16)
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(
                mel[i, j], mel_spectrogram(audio[i, j], SR, hop_length=256), rtol=1e-4, atol=1e-5
            )
    # A single-item batch keeps its leading dimension.
    assert mel_spectrogram(audio[:1, 0], SR).shape == (1, 80, 16)


@pytest.mark.parametrize("band", [5, 10, 25, 40, 60, 75])
def test_pure_tone_energy_peaks_in_its_mel_band(band):
    # Slaney mel bands: band b spans edges[b]..edges[b+2] and is centred on edges[b+1].
    edges = librosa.mel_frequencies(80 + 2, fmin=0.0, fmax=SR / 2)
    freq = float(edges[band + 1])
    mel = mel_spectrogram(torch.from_numpy(_tone(freq)), SR, n_fft=2048, hop_length=256, n_mels=80)
    profile = mel.mean(dim=-1)
    peak = int(profile.argmax())
    assert peak == band
    assert edges[peak] < freq < edges[peak + 2]
    # The energy is concentrated: bands far from the tone are negligible.
    far = torch.cat([profile[: max(band - 3, 0)], profile[band + 4 :]])
    assert far.max() < 1e-3 * profile[peak]


@pytest.mark.parametrize("freq", [300.0, 1000.0, 2500.0, 6000.0])
def test_arbitrary_tone_lands_in_a_band_containing_it(freq):
    edges = librosa.mel_frequencies(80 + 2, fmin=0.0, fmax=SR / 2)
    peak = int(mel_spectrogram(torch.from_numpy(_tone(freq)), SR).mean(dim=-1).argmax())
    assert edges[peak] < freq < edges[peak + 2]


def test_magnitude_mel_scales_linearly_and_power_mel_quadratically():
    x = _noise(8192, seed=3)
    scale = 3.0
    mag, mag_scaled = mel_spectrogram(x, SR, power=1.0), mel_spectrogram(scale * x, SR, power=1.0)
    pow2, pow2_scaled = mel_spectrogram(x, SR, power=2.0), mel_spectrogram(scale * x, SR, power=2.0)
    torch.testing.assert_close(mag_scaled, scale * mag, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(pow2_scaled, scale**2 * pow2, rtol=1e-4, atol=1e-4)
    # The default is the power spectrogram.
    torch.testing.assert_close(mel_spectrogram(x, SR), pow2)


def test_magnitude_and_power_mels_of_a_tone_peak_in_the_same_band_and_scale_differently():
    x = torch.from_numpy(_tone(1000.0))
    mag = mel_spectrogram(x, SR, power=1.0).mean(-1)
    pw = mel_spectrogram(x, SR, power=2.0).mean(-1)
    b = int(pw.argmax())
    assert int(mag.argmax()) == b
    mag2 = mel_spectrogram(2 * x, SR, power=1.0).mean(-1)
    pw2 = mel_spectrogram(2 * x, SR, power=2.0).mean(-1)
    assert float(mag2[b] / mag[b]) == pytest.approx(2.0, rel=1e-4)
    assert float(pw2[b] / pw[b]) == pytest.approx(4.0, rel=1e-4)


def test_mel_of_float64_audio_keeps_dtype():
    mel = mel_spectrogram(_noise(4096).double(), SR)
    assert mel.dtype == torch.float64
    torch.testing.assert_close(mel.float(), mel_spectrogram(_noise(4096), SR), rtol=1e-3, atol=1e-5)


def test_log_mel_is_log1p():
    mel = torch.tensor([0.0, 1.0, 10.0])
    torch.testing.assert_close(log_mel(mel), torch.log(1 + mel))


# --------------------------------------------------------------------------- resample
@pytest.mark.parametrize(("orig", "target"), [(22050, 16000), (16000, 22050), (44100, 16000)])
def test_resample_length_ratio_and_pitch(orig, target):
    audio = _tone(440.0, seconds=1.0, sample_rate=orig)
    out = resample(audio, orig, target)
    assert out.dtype == np.float32
    assert abs(len(out) - len(audio) * target / orig) <= 1
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak_hz = np.fft.rfftfreq(len(out), 1 / target)[spectrum.argmax()]
    assert peak_hz == pytest.approx(440.0, abs=2.0)


def test_resample_is_a_no_op_when_rates_agree():
    audio = _tone(440.0, seconds=0.1)
    out = resample(audio, SR, SR)
    np.testing.assert_array_equal(out, audio)
    assert out.dtype == np.float32
    as64 = resample(audio.astype(np.float64), SR, SR)
    assert as64.dtype == np.float32
    np.testing.assert_array_equal(as64, audio)


# --------------------------------------------------------------------------- fit_length
def test_fit_length_pads_short_clips_with_zeros_at_the_end():
    audio = np.arange(1, 6, dtype=np.float32)
    out = fit_length(audio, 8)
    assert out.shape == (8,) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [1, 2, 3, 4, 5, 0, 0, 0])


def test_fit_length_crops_long_clips_to_their_first_samples():
    audio = np.arange(10, dtype=np.float64)
    out = fit_length(audio, 4)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0, 1, 2, 3])
    np.testing.assert_array_equal(audio, np.arange(10))  # input untouched


def test_fit_length_exact_length_is_unchanged():
    audio = np.linspace(-1, 1, 16, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(audio, 16), audio)


# --------------------------------------------------------------------------- load_audio
def test_load_audio_reads_mono_float32_and_rate(tmp_path):
    path = tmp_path / "tone.wav"
    audio = _tone(440.0, seconds=0.25, sample_rate=22050)
    sf.write(path, audio, 22050, subtype="FLOAT")
    out, rate = load_audio(path)
    assert rate == 22050
    assert out.dtype == np.float32 and out.ndim == 1
    np.testing.assert_array_equal(out, audio)


def test_load_audio_averages_stereo_to_mono(tmp_path):
    path = tmp_path / "stereo.wav"
    left = _tone(440.0, seconds=0.1)
    right = _tone(1000.0, seconds=0.1, amplitude=0.25)
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    out, rate = load_audio(path)
    assert rate == SR and out.shape == left.shape
    np.testing.assert_allclose(out, (left + right) / 2, atol=1e-7)


def test_load_audio_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "missing.wav"
    with pytest.raises(BadAudioError, match="missing.wav") as err:
        load_audio(path)
    assert str(path) in str(err.value)


def test_load_audio_garbage_file_names_the_path(tmp_path):
    path = tmp_path / "garbage.wav"
    path.write_bytes(b"this is not a RIFF file at all" * 10)
    with pytest.raises(BadAudioError, match="unreadable") as err:
        load_audio(path)
    assert str(path) in str(err.value)


def test_load_audio_empty_file_names_the_path(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(BadAudioError, match="empty") as err:
        load_audio(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_load_audio_non_finite_samples_name_the_path(tmp_path, bad):
    path = tmp_path / "nonfinite.wav"
    audio = _tone(440.0, seconds=0.05)
    audio[17] = bad
    sf.write(path, audio, SR, subtype="FLOAT")
    with pytest.raises(BadAudioError, match="non-finite") as err:
        load_audio(path)
    assert str(path) in str(err.value)


def test_bad_audio_error_is_a_value_error():
    assert issubclass(BadAudioError, ValueError)
