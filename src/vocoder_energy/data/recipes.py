"""Named mel front ends of the released vocoder checkpoints, each exactly as its original computes the model input.

A released checkpoint only works on the features it was trained on, so each recipe reproduces its original's
STFT padding, magnitude, filterbank (Slaney or HTK scale, area-normalised or not) and log/normalisation. The facts
and their sources are in shared/reference/released-checkpoints.md (sections 1.4-8.4); ``source`` cites the
original file and lines. Everything runs on torch.stft and librosa filterbanks (no torchaudio).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from vocoder_energy.core.errors import InputError

PADDINGS = ("center", "hifigan")  # centred reflect STFT | reflect-pad (n_fft - hop) // 2, then center=False
LOGS = ("ln", "log10", "diffwave", "wavegrad")


class UnknownRecipeError(InputError, ValueError):
    """A recipe name that is not in RECIPES; the message lists the known names."""


@dataclass(frozen=True)
class MelRecipe:
    name: str
    sample_rate: int
    n_fft: int
    win_length: int
    hop_length: int
    n_mels: int
    fmin: float
    fmax: float | None  # None: sample_rate / 2 (what librosa and torchaudio do with None)
    padding: str  # one of PADDINGS
    log: str  # one of LOGS, see _compress
    clip: float = 1e-5  # the floor inside the log (unused by "wavegrad")
    power: int = 1  # 1: magnitude, 2: power spectrogram (WaveGrad)
    magnitude_eps: float = 0.0  # HiFi-GAN/BigVGAN: sqrt(re^2 + im^2 + 1e-9)
    window_normalized: bool = False  # DiffWave: torchaudio normalized=True divides the STFT by sqrt(sum w^2)
    mel_scale: str = "slaney"  # "slaney" | "htk"
    mel_norm: str | None = "slaney"  # "slaney" (area) | None (peak 1)
    drop_last_frame: bool = False  # WaveGrad drops the trailing centred frame
    source: str = ""

    def __post_init__(self):
        if self.padding not in PADDINGS or self.log not in LOGS or self.power not in (1, 2):
            raise ValueError(f"{self.name}: bad padding/log/power {self.padding!r}/{self.log!r}/{self.power!r}")
        if self.mel_scale not in ("slaney", "htk") or self.mel_norm not in ("slaney", None):
            raise ValueError(f"{self.name}: bad mel scale/norm {self.mel_scale!r}/{self.mel_norm!r}")
        if self.magnitude_eps and self.power != 1:  # no original adds the epsilon to a power spectrogram
            raise ValueError(f"{self.name}: magnitude_eps needs power 1")

    @property
    def fmax_hz(self) -> float:
        return self.sample_rate / 2 if self.fmax is None else float(self.fmax)

    @property
    def edge_pad(self) -> int:
        """Samples of reflect padding on each side before the STFT."""
        return self.n_fft // 2 if self.padding == "center" else (self.n_fft - self.hop_length) // 2

    def frames(self, samples: int) -> int:
        """Frames the original makes for a clip of ``samples`` samples (center: T//hop + 1, hifigan: T//hop)."""
        count = (samples + 2 * self.edge_pad - self.n_fft) // self.hop_length + 1
        return count - 1 if self.drop_last_frame else count

    def filterbank(self) -> np.ndarray:
        """The (n_mels, n_fft // 2 + 1) float64 mel matrix (cached)."""
        return _filterbank(self.sample_rate, self.n_fft, self.n_mels, float(self.fmin), self.fmax_hz, self.mel_scale,
                           self.mel_norm)  # fmt: skip

    def mel(self, audio: torch.Tensor) -> torch.Tensor:
        """(..., samples) float audio in [-1, 1] at ``sample_rate`` -> (..., n_mels, frames(samples)) model input."""
        shape = audio.shape
        x = audio.reshape(-1, shape[-1])
        if shape[-1] <= self.edge_pad or self.frames(shape[-1]) < 1:  # reflect padding needs more than pad samples
            raise ValueError(f"{self.name}: a clip of {shape[-1]} samples is too short (needs > {self.edge_pad})")
        if self.padding == "hifigan":
            x = torch.nn.functional.pad(x.unsqueeze(1), (self.edge_pad, self.edge_pad), mode="reflect").squeeze(1)
        window = torch.hann_window(self.win_length, device=x.device, dtype=x.dtype)  # periodic, as all originals
        spec = torch.stft(x, self.n_fft, hop_length=self.hop_length, win_length=self.win_length, window=window,
                          center=self.padding == "center", pad_mode="reflect", normalized=False, onesided=True,
                          return_complex=True)  # fmt: skip
        if self.window_normalized:
            spec = spec / window.square().sum().sqrt()
        if self.magnitude_eps:
            magnitude = (spec.real.square() + spec.imag.square() + self.magnitude_eps).sqrt()
        else:
            magnitude = spec.abs() if self.power == 1 else spec.abs().square()
        basis = _basis_tensor(self, str(x.device), x.dtype)
        out = _compress(self, torch.matmul(basis, magnitude))
        if self.drop_last_frame:
            out = out[..., :-1]
        return out.reshape(*shape[:-1], self.n_mels, out.shape[-1])


def _compress(recipe: MelRecipe, mel: torch.Tensor) -> torch.Tensor:
    """The original's log (and normalisation) of the mel-filtered magnitude."""
    if recipe.log == "ln":
        return torch.log(torch.clamp(mel, min=recipe.clip))
    if recipe.log == "log10":
        return torch.log10(torch.clamp(mel, min=recipe.clip))
    if recipe.log == "diffwave":  # dB with ref level 20 dB, then [-100, 0] dB mapped onto [0, 1]
        db = 20 * torch.log10(torch.clamp(mel, min=recipe.clip)) - 20
        return torch.clamp((db + 100) / 100, 0.0, 1.0)
    logged = torch.log10(mel)  # "wavegrad": no floor; exact zeros (-inf) become 0
    return torch.where(torch.isneginf(logged), torch.zeros_like(logged), logged)


@lru_cache(maxsize=32)
def _filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float, scale: str, norm: str | None
) -> np.ndarray:
    import librosa

    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                                htk=scale == "htk", norm=norm, dtype=np.float64)  # fmt: skip
    basis.setflags(write=False)  # shared by every caller through the cache
    return basis


@lru_cache(maxsize=64)
def _basis_tensor(recipe: MelRecipe, device: str, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(recipe.filterbank().copy()).to(device=device, dtype=dtype)


def _recipe(name: str, base: dict, source: str, **overrides) -> MelRecipe:
    return MelRecipe(name=name, **{**base, **overrides}, source=source)


_22K = {"sample_rate": 22050, "n_fft": 1024, "win_length": 1024, "hop_length": 256, "n_mels": 80, "fmin": 0.0}
# HiFi-GAN's meldataset.mel_spectrogram, which BigVGAN copied (fact sheet 1.4, 8.4).
_HIFIGAN = {**_22K, "fmax": 8000.0, "padding": "hifigan", "log": "ln", "magnitude_eps": 1e-9}
# Tacotron2's TacotronSTFT, used by WaveGlow and copied by WaveFlow (fact sheet 3.4, 6.4).
_TACOTRON2 = {**_22K, "fmax": 8000.0, "padding": "center", "log": "ln"}
# torchaudio.transforms.MelSpectrogram defaults: centred reflect STFT, HTK scale, no filter normalisation.
_TORCHAUDIO = {**_22K, "padding": "center", "mel_scale": "htk", "mel_norm": None}
_BIGVGAN = "NVIDIA/BigVGAN meldataset.py:51-143, configs/"

_ALL = [
    _recipe("hifigan_22k", _HIFIGAN, "jik876/hifi-gan meldataset.py:49-72, config_v1/v2/v3.json"),
    _recipe("melgan_22k", _HIFIGAN, "descriptinc/melgan-neurips mel2wav/modules.py:26-69 (Audio2Mel defaults)",
            fmax=None, log="log10", magnitude_eps=0.0),
    _recipe("waveglow_22k", _TACOTRON2,
            "NVIDIA/tacotron2@185cd24 layers.py:42-80, stft.py:44-105, audio_processing.py:78-84"),
    _recipe("waveflow_22k", _TACOTRON2,
            "L0SG/WaveFlow tacotron2_custom/layers.py:43-85, audio_processing.py:78-84 (use_dbmel off)"),
    _recipe("diffwave_22k", _TORCHAUDIO, "lmnt-com/diffwave src/diffwave/preprocess.py:29-52",
            fmin=20.0, fmax=None, log="diffwave", window_normalized=True),
    _recipe("wavegrad_22k", _TORCHAUDIO, "ivanvovk/WaveGrad data.py:69-79, configs/default.json",
            hop_length=300, fmin=80.0, fmax=8000.0, power=2, log="wavegrad", drop_last_frame=True),
    _recipe("vocos_24k", _TORCHAUDIO, "gemelo-ai/vocos feature_extractors.py:28-49, modules.py:194-205",
            sample_rate=24000, n_mels=100, fmax=None, log="ln", clip=1e-7),
    # v1 / base 22 kHz and v2 fmax8k share one config; v2 without fmax8k has fmax null (11025).
    _recipe("bigvgan_22k_80", _HIFIGAN, _BIGVGAN + "bigvgan_22khz_80band.json"),
    _recipe("bigvgan_v2_22k_80", _HIFIGAN, _BIGVGAN + "bigvgan_v2_22khz_80band_256x.json", fmax=None),
    # v1 / base say fmax 12000, v2 says null: the same 12000 Hz, kept apart because the configs differ.
    _recipe("bigvgan_24k_100", _HIFIGAN, _BIGVGAN + "bigvgan_24khz_100band.json",
            sample_rate=24000, n_mels=100, fmax=12000.0),
    _recipe("bigvgan_v2_24k_100", _HIFIGAN, _BIGVGAN + "bigvgan_v2_24khz_100band_256x.json",
            sample_rate=24000, n_mels=100, fmax=None),
    _recipe("bigvgan_v2_44k_128", _HIFIGAN, _BIGVGAN + "bigvgan_v2_44khz_128band_256x.json",
            sample_rate=44100, n_mels=128, fmax=None),
    _recipe("bigvgan_v2_44k_128_512x", _HIFIGAN, _BIGVGAN + "bigvgan_v2_44khz_128band_512x.json",
            sample_rate=44100, n_mels=128, fmax=None, n_fft=2048, win_length=2048, hop_length=512),
]  # fmt: skip
RECIPES: dict[str, MelRecipe] = {recipe.name: recipe for recipe in _ALL}
# Which recipe each released checkpoint takes: RELEASED_CHECKPOINTS in models/importers/catalogue.py.


def recipe_for(name: str) -> MelRecipe:
    """The recipe called ``name``; an error listing the known names otherwise."""
    try:
        return RECIPES[name]
    except (KeyError, TypeError):
        raise UnknownRecipeError(f"unknown mel recipe {name!r}; known: {', '.join(sorted(RECIPES))}") from None


_LOG_TEXT = {
    "ln": "ln(max(x, {clip:g}))",
    "log10": "log10(max(x, {clip:g}))",
    "diffwave": "clamp((20*log10(max(x, {clip:g})) - 20 + 100) / 100, 0, 1)",
    "wavegrad": "log10(x), -inf -> 0, last frame dropped",
}


def describe(recipe: MelRecipe) -> str:
    """One line for tables and reports."""
    pad = "centre reflect" if recipe.padding == "center" else f"reflect {recipe.edge_pad}, center=False"
    mag = "|X|^2" if recipe.power == 2 else "|X|"
    if recipe.magnitude_eps:
        mag = f"sqrt(|X|^2 + {recipe.magnitude_eps:g})"
    if recipe.window_normalized:
        mag += "/sqrt(sum w^2)"
    fb = f"{recipe.mel_scale}/{recipe.mel_norm or 'no norm'}"
    return (
        f"{recipe.name}: {recipe.sample_rate} Hz, n_fft {recipe.n_fft}, win {recipe.win_length}, "
        f"hop {recipe.hop_length}, {pad}, {mag}, {recipe.n_mels} mels {recipe.fmin:g}-{recipe.fmax_hz:g} Hz {fb}, "
        + _LOG_TEXT[recipe.log].format(clip=recipe.clip)
    )
