"""recipes.py: each released vocoder's mel front end, checked against hand-computed values.

Expected values are derived here independently: the mel scales from their formulas, the STFT of a bin-centred
sine from the periodic Hann window's DFT (peak A*N/4, neighbours A*N/8, zero elsewhere), the log formulas written
out per original (fact sheet shared/reference/released-checkpoints.md, sections 1.4-8.4).
"""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
import torch

from vocoder_energy.core.errors import InputError
from vocoder_energy.data.recipes import RECIPES, MelRecipe, UnknownRecipeError, describe, recipe_for
from vocoder_energy.models.importers.catalogue import RELEASED_CHECKPOINTS

# name: (sample_rate, n_fft, hop, n_mels, fmin, effective fmax, padding, mel scale, filter norm), from the fact sheet.
FACTS = {
    "hifigan_22k": (22050, 1024, 256, 80, 0, 8000, "hifigan", "slaney", "slaney"),
    "melgan_22k": (22050, 1024, 256, 80, 0, 11025, "hifigan", "slaney", "slaney"),
    "waveglow_22k": (22050, 1024, 256, 80, 0, 8000, "center", "slaney", "slaney"),
    "waveflow_22k": (22050, 1024, 256, 80, 0, 8000, "center", "slaney", "slaney"),
    "diffwave_22k": (22050, 1024, 256, 80, 20, 11025, "center", "htk", None),
    "wavegrad_22k": (22050, 1024, 300, 80, 80, 8000, "center", "htk", None),
    "vocos_24k": (24000, 1024, 256, 100, 0, 12000, "center", "htk", None),
    "bigvgan_22k_80": (22050, 1024, 256, 80, 0, 8000, "hifigan", "slaney", "slaney"),
    "bigvgan_v2_22k_80": (22050, 1024, 256, 80, 0, 11025, "hifigan", "slaney", "slaney"),
    "bigvgan_24k_100": (24000, 1024, 256, 100, 0, 12000, "hifigan", "slaney", "slaney"),
    "bigvgan_v2_24k_100": (24000, 1024, 256, 100, 0, 12000, "hifigan", "slaney", "slaney"),
    "bigvgan_v2_44k_128": (44100, 1024, 256, 128, 0, 22050, "hifigan", "slaney", "slaney"),
    "bigvgan_v2_44k_128_512x": (44100, 2048, 512, 128, 0, 22050, "hifigan", "slaney", "slaney"),
}
HIFIGAN_LIKE = {"hifigan_22k", "bigvgan_22k_80", "bigvgan_v2_22k_80", "bigvgan_24k_100", "bigvgan_v2_24k_100",
                "bigvgan_v2_44k_128", "bigvgan_v2_44k_128_512x"}  # fmt: skip


def _expected_log(name: str, mel: np.ndarray) -> np.ndarray:
    """Each original's log/normalisation of the mel-filtered magnitude, written out by hand."""
    if name == "melgan_22k":
        return np.log10(np.maximum(mel, 1e-5))
    if name == "diffwave_22k":
        return np.clip((20 * np.log10(np.maximum(mel, 1e-5)) - 20 + 100) / 100, 0, 1)
    if name == "wavegrad_22k":
        with np.errstate(divide="ignore"):
            return np.log10(mel)  # of a power mel; no floor (zeros are tested with silence)
    if name == "vocos_24k":
        return np.log(np.maximum(mel, 1e-7))
    return np.log(np.maximum(mel, 1e-5))  # HiFi-GAN, WaveGlow/WaveFlow (Tacotron2), BigVGAN


SILENCE_FLOOR = {name: math.log(1e-5) for name in FACTS} | {
    "melgan_22k": -5.0,
    "diffwave_22k": 0.0,  # -100 - 20 dB, clamped to 0 after normalisation
    "wavegrad_22k": 0.0,  # log10(0) = -inf, set to 0
    "vocos_24k": math.log(1e-7),
}


# Mel scales from their definitions (not librosa): HTK 2595 log10(1 + f/700); Slaney linear 200/3 Hz per mel
# below 1 kHz, then log steps of ln(6.4)/27.
def _hz_to_mel(f, scale: str):
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595 * np.log10(1 + f / 700)
    return np.where(f < 1000, f / (200 / 3), 15 + np.log(np.maximum(f, 1e-9) / 1000) / (math.log(6.4) / 27))


def _mel_to_hz(m, scale: str):
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700 * (10 ** (m / 2595) - 1)
    return np.where(m < 15, m * 200 / 3, 1000 * np.exp((m - 15) * math.log(6.4) / 27))


def _edges(sr, n_mels, fmin, fmax, scale):
    """n_mels + 2 filter edges in Hz; filter b rises from edges[b], peaks at edges[b+1], falls to edges[b+2]."""
    return _mel_to_hz(np.linspace(_hz_to_mel(fmin, scale), _hz_to_mel(fmax, scale), n_mels + 2), scale)


def _triangles(sr, n_fft, n_mels, fmin, fmax, scale, norm) -> np.ndarray:
    edges = _edges(sr, n_mels, fmin, fmax, scale)
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    weights = np.zeros((n_mels, freqs.size))
    for b in range(n_mels):
        lo, mid, hi = edges[b : b + 3]
        weights[b] = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
        if norm == "slaney":  # unit area: peak 2 / (hi - lo)
            weights[b] *= 2 / (hi - lo)
    return weights


def _formula_filterbank(name: str) -> np.ndarray:
    sr, n_fft, _, n_mels, fmin, fmax, _, scale, norm = FACTS[name]
    return _triangles(sr, n_fft, n_mels, fmin, fmax, scale, norm)


def _sine(freq_or_bin, recipe: MelRecipe, seconds: float = 0.5, amplitude: float = 0.5) -> torch.Tensor:
    n = np.arange(int(seconds * recipe.sample_rate))
    if isinstance(freq_or_bin, int):  # exactly bin-centred: phase computed modulo n_fft, in float64
        phase = 2 * np.pi * freq_or_bin * (n % recipe.n_fft) / recipe.n_fft
    else:
        phase = 2 * np.pi * freq_or_bin * n / recipe.sample_rate
    return torch.from_numpy(amplitude * np.sin(phase)).float().unsqueeze(0)


# --------------------------------------------------------------------------- the table
def test_every_released_checkpoint_has_a_recipe_and_every_recipe_a_checkpoint():
    released = {key: entry.recipe for key, entry in RELEASED_CHECKPOINTS.items()}  # the catalogue's
    assert set(RECIPES) == set(FACTS)
    assert set(released.values()) <= set(RECIPES)
    assert set(RECIPES) - set(released.values()) == {"waveflow_22k"}  # WaveFlow published no checkpoint
    assert len([k for k in released if k.startswith("bigvgan/")]) == 9  # fact sheet 8.1
    assert len([k for k in released if k.startswith("hifigan/")]) == 10  # fact sheet 1.1
    assert released["hifigan/LJ_FT_T2_V1"] == "waveglow_22k"  # fine-tuned on Tacotron2 mels
    assert released["hifigan/LJ_V1"] == released["hifigan/UNIVERSAL_V1"] == "hifigan_22k"
    assert released["melgan/LJ"] == released["melgan/multi_speaker"] == "melgan_22k"
    assert released["waveglow/256ch"] == "waveglow_22k"
    assert released["diffwave/LJ"] == "diffwave_22k" and released["wavegrad/LJ"] == "wavegrad_22k"
    assert released["vocos/mel_24k"] == "vocos_24k"
    # BigVGAN: v1, base and v2 fmax8k share one 22 kHz config; v2 22 kHz without fmax8k has fmax null (8.1).
    assert released["bigvgan/v2_22k_80_fmax8k_256x"] == released["bigvgan/v1_22k_80"] == "bigvgan_22k_80"
    assert released["bigvgan/base_22k_80"] == "bigvgan_22k_80"
    assert released["bigvgan/v2_22k_80_256x"] == "bigvgan_v2_22k_80"
    assert released["bigvgan/v1_24k_100"] == released["bigvgan/base_24k_100"] == "bigvgan_24k_100"
    assert released["bigvgan/v2_24k_100_256x"] == "bigvgan_v2_24k_100"
    assert released["bigvgan/v2_44k_128_256x"] == "bigvgan_v2_44k_128"
    assert released["bigvgan/v2_44k_128_512x"] == "bigvgan_v2_44k_128_512x"


@pytest.mark.parametrize("name", sorted(FACTS))
def test_recipe_parameters_match_the_fact_sheet(name):
    r = recipe_for(name)
    sr, n_fft, hop, n_mels, fmin, fmax, padding, scale, norm = FACTS[name]
    assert (r.name, r.sample_rate, r.n_fft, r.win_length, r.hop_length, r.n_mels) == (
        name,
        sr,
        n_fft,
        n_fft,
        hop,
        n_mels,
    )
    assert (r.fmin, r.fmax_hz, r.padding, r.mel_scale, r.mel_norm) == (fmin, fmax, padding, scale, norm)
    assert r.magnitude_eps == (1e-9 if name in HIFIGAN_LIKE else 0.0)
    assert r.power == (2 if name == "wavegrad_22k" else 1)
    assert r.window_normalized == (name == "diffwave_22k")
    assert r.source


def test_recipes_are_frozen_and_validated():
    with pytest.raises(FrozenInstanceError):
        RECIPES["hifigan_22k"].hop_length = 300
    with pytest.raises(ValueError, match="padding"):
        MelRecipe("x", 22050, 1024, 1024, 256, 80, 0.0, None, padding="same", log="ln")


# --------------------------------------------------------------------------- frames
@pytest.mark.parametrize(
    ("name", "counts"),
    [  # clip lengths 22050, 12345, 1024, 2560 samples
        ("hifigan_22k", (86, 48, 4, 10)),  # T // 256
        ("melgan_22k", (86, 48, 4, 10)),
        ("waveglow_22k", (87, 49, 5, 11)),  # T // 256 + 1
        ("diffwave_22k", (87, 49, 5, 11)),
        ("vocos_24k", (87, 49, 5, 11)),
        ("wavegrad_22k", (73, 41, 3, 8)),  # T // 300 + 1 - 1 (last frame dropped)
        ("bigvgan_v2_44k_128", (86, 48, 4, 10)),
        ("bigvgan_v2_44k_128_512x", (43, 24, 2, 5)),  # T // 512
    ],
)
def test_frame_counts_follow_each_originals_rule(name, counts):
    r = recipe_for(name)
    for samples, expected in zip((22050, 12345, 1024, 2560), counts):
        assert r.frames(samples) == expected, samples
        assert r.mel(torch.zeros(1, samples)).shape == (1, r.n_mels, expected)


@pytest.mark.parametrize("name", sorted(FACTS))
def test_frame_t_is_centred_where_the_original_centres_it(name):
    # Centred STFT: frame t is centred on sample hop*t. HiFi-GAN padding: frame t spans padded samples
    # [hop*t, hop*t + n_fft), i.e. original samples from hop*t - (n_fft - hop)/2, centred on hop*(t + 1/2).
    r = recipe_for(name)
    offset = r.hop_length // 2 if FACTS[name][6] == "hifigan" else 0
    for t in (6, 11):
        click = torch.zeros(1, 20 * r.hop_length)
        click[0, r.hop_length * t + offset] = 1.0  # loud enough that WaveGrad's log10 is above its silence value 0
        assert int(r.mel(click)[0, r.n_mels // 2].argmax()) == t


def test_batch_items_are_independent_and_too_short_clips_are_refused():
    r = recipe_for("hifigan_22k")
    audio = torch.from_numpy(np.random.default_rng(0).standard_normal((3, 4000)).astype(np.float32) * 0.1)
    mel = r.mel(audio)
    assert mel.shape == (3, 80, 15)
    torch.testing.assert_close(mel[1], r.mel(audio[1:2])[0])
    with pytest.raises(ValueError, match="too short"):
        r.mel(torch.zeros(1, 300))


# --------------------------------------------------------------------------- filterbanks
@pytest.mark.parametrize("name", sorted(FACTS))
def test_filterbank_matches_the_mel_scale_formula(name):
    basis = recipe_for(name).filterbank()
    expected = _formula_filterbank(name)
    assert basis.dtype == np.float64 and basis.shape == expected.shape
    np.testing.assert_allclose(basis, expected, rtol=1e-9, atol=1e-12 * expected.max())


def test_htk_and_slaney_filterbanks_differ():
    slaney = _triangles(22050, 1024, 80, 0, 11025, "slaney", None)
    htk = _triangles(22050, 1024, 80, 0, 11025, "htk", None)
    assert np.abs(slaney - htk).max() > 0.5  # different band placement, not rounding
    # Centre of band 40 of 80 over 0-11025 Hz, by hand. Slaney: 15 + ln(11.025) / (ln(6.4)/27) = 49.911 mels,
    # 41/81 of it = 25.263 -> 1000 exp(10.263 ln(6.4)/27) = 2025.1 Hz. HTK: 2595 log10(16.75) = 3176.3 mels,
    # 41/81 of it = 1607.7 -> 700 (10^(1607.7/2595) - 1) = 2215.2 Hz.
    assert _edges(22050, 80, 0, 11025, "slaney")[41] == pytest.approx(2025.1, abs=0.1)
    assert _edges(22050, 80, 0, 11025, "htk")[41] == pytest.approx(2215.2, abs=0.1)
    # And each recipe uses the one the fact sheet names (not the other).
    assert (
        np.abs(recipe_for("melgan_22k").filterbank() - _triangles(22050, 1024, 80, 0, 11025, "htk", "slaney")).max()
        > 1e-3
    )
    vocos = recipe_for("vocos_24k").filterbank()
    assert vocos.max() == pytest.approx(1.0, abs=0.05)  # no area normalisation: peaks near 1


# --------------------------------------------------------------------------- pure tones
@pytest.mark.parametrize("name", sorted(FACTS))
def test_tone_at_a_filter_centre_peaks_in_that_band(name):
    r = recipe_for(name)
    _, _, _, n_mels, fmin, fmax, _, scale, _ = FACTS[name]
    edges = _edges(r.sample_rate, n_mels, fmin, fmax, scale)
    for band in (n_mels // 3, n_mels // 2, 3 * n_mels // 4):
        mel = r.mel(_sine(float(edges[band + 1]), r))[0, :, 8:-8]
        assert int(mel.mean(dim=-1).argmax()) == band, (band, edges[band + 1])


@pytest.mark.parametrize("amplitude", [0.5, 1e-4])
@pytest.mark.parametrize("name", sorted(FACTS))
def test_level_of_a_bin_centred_tone_is_the_hand_computed_one(name, amplitude):
    r = recipe_for(name)
    sr, n_fft, _, n_mels, fmin, fmax, _, scale, _ = FACTS[name]
    k = round(_edges(sr, n_mels, fmin, fmax, scale)[n_mels // 2 + 1] * n_fft / sr)  # bin nearest a band centre
    # |STFT| of a bin-centred sine under a periodic Hann window of N points: A*N/4 at bin k, A*N/8 at k +- 1, else 0.
    plain = np.zeros(n_fft // 2 + 1)
    plain[k - 1 : k + 2] = amplitude * n_fft / 8, amplitude * n_fft / 4, amplitude * n_fft / 8
    magnitude = np.sqrt(plain**2 + 1e-9) if name in HIFIGAN_LIKE else plain
    if name == "diffwave_22k":
        magnitude = magnitude / math.sqrt(3 * n_fft / 8)  # sum of squared periodic Hann = 3N/8
    if name == "wavegrad_22k":
        magnitude = magnitude**2
    linear = _formula_filterbank(name) @ magnitude
    expected = _expected_log(name, linear)
    mel = r.mel(_sine(k, r, amplitude=amplitude))[0, :, 8:-8].double().numpy()
    # Bands the tone reaches hold the hand value in every frame; the others hold only rounding noise or the floor.
    reached = _formula_filterbank(name) @ plain
    loud = reached > 1e-3 * reached.max()
    assert loud.sum() >= 2 and loud[n_mels // 2]
    np.testing.assert_allclose(mel[loud], np.repeat(expected[loud, None], mel.shape[1], axis=1), atol=2e-4, rtol=0)
    assert mel[~loud].max() < mel[loud].min()
    if name in HIFIGAN_LIKE and amplitude < 1e-3:  # here the 1e-9 inside the sqrt is visible: the test sees it
        without = _expected_log(name, _formula_filterbank(name) @ plain)
        assert np.abs(without - expected)[loud].max() > 1e-3


def test_levels_under_different_log_formulas_are_exact_by_hand():
    # Two recipes, numbers worked out here step by step. Tone at bin 93 (2003.0 Hz at 22050 Hz / 1024), A = 0.5:
    # |X| = 128 at bin 93 and 64 at bins 92, 94.
    k, amplitude = 93, 0.5
    for name, log in (("waveglow_22k", np.log), ("melgan_22k", np.log10)):
        r = recipe_for(name)
        w = _formula_filterbank(name)
        band = int(w[:, k].argmax())
        value = 128 * w[band, k] + 64 * (w[band, k - 1] + w[band, k + 1])
        mel = r.mel(_sine(k, r, amplitude=amplitude))[0, band, 8:-8]
        torch.testing.assert_close(mel, torch.full_like(mel, float(log(value))), atol=1e-4, rtol=0)
    # DiffWave: the same magnitudes divided by sqrt(384), HTK filters of peak 1, 20 log10 - 20, then (+100)/100.
    r = recipe_for("diffwave_22k")
    w = _formula_filterbank("diffwave_22k")
    band = int(w[:, k].argmax())
    value = (128 * w[band, k] + 64 * (w[band, k - 1] + w[band, k + 1])) / math.sqrt(384)
    mel = r.mel(_sine(k, r, amplitude=amplitude))[0, band, 8:-8]
    expected = (20 * math.log10(value) - 20 + 100) / 100
    assert 0 < expected < 1
    torch.testing.assert_close(mel, torch.full_like(mel, expected), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(FACTS))
def test_silence_gives_the_log_floor(name):
    r = recipe_for(name)
    mel = r.mel(torch.zeros(2, 8000))
    torch.testing.assert_close(mel, torch.full_like(mel, SILENCE_FLOOR[name]), atol=1e-6, rtol=0)


def test_front_ends_that_share_parameters_agree():
    # Different names for the same computation (kept apart because the originals' configs differ).
    audio = torch.from_numpy(np.random.default_rng(2).standard_normal((1, 6000)).astype(np.float32) * 0.1)
    for a, b in (("hifigan_22k", "bigvgan_22k_80"), ("waveglow_22k", "waveflow_22k"),
                 ("bigvgan_24k_100", "bigvgan_v2_24k_100")):  # fmt: skip
        torch.testing.assert_close(recipe_for(a).mel(audio), recipe_for(b).mel(audio), rtol=0, atol=0)
    # ...while MelGAN differs from HiFi-GAN only in log base, fmax and the 1e-9, and does differ.
    assert (recipe_for("melgan_22k").mel(audio) - recipe_for("hifigan_22k").mel(audio)).abs().max() > 1


# --------------------------------------------------------------------------- names
def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownRecipeError) as info:
        recipe_for("hifigan_16k")
    message = str(info.value)
    assert "hifigan_16k" in message
    for name in RECIPES:
        assert name in message
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)


def test_describe_is_one_line_with_the_key_numbers():
    for recipe in RECIPES.values():
        line = describe(recipe)
        assert "\n" not in line and line.startswith(recipe.name + ":")
        assert f"hop {recipe.hop_length}" in line and f"{recipe.n_mels} mels" in line
    assert "ln(max(x, 1e-07))" in describe(recipe_for("vocos_24k"))
    assert "log10(max(x, 1e-05))" in describe(recipe_for("melgan_22k"))
    assert "htk" in describe(recipe_for("diffwave_22k")) and "20-11025 Hz" in describe(recipe_for("diffwave_22k"))
