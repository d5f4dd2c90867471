"""Audio I/O, resampling and the one mel-spectrogram definition used by features, losses and metrics."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from vocoder_energy.core.errors import InputError


class BadAudioError(InputError, ValueError):
    """An audio file that cannot be used; ``reason`` says why (missing, unreadable, empty, non-finite...)."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples and sample rate; a clear ``BadAudioError`` naming the file otherwise."""
    if not Path(path).is_file():  # libsndfile would only say "System error"
        raise BadAudioError(path, "does not exist")
    try:
        data, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several types for broken files
        raise BadAudioError(path, f"unreadable audio ({err})") from err
    if data.size == 0:
        raise BadAudioError(path, "empty audio file")
    mono = data.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise BadAudioError(path, "non-finite samples (NaN or inf)")
    return mono, sample_rate


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """High-quality resampling (soxr); a no-op when the rates agree."""
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, orig_sr, target_sr, quality="HQ").astype(np.float32)


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """The first ``length`` samples, zero-padded at the end when the clip is shorter."""
    out = np.zeros(length, dtype=np.float32)
    n = min(length, audio.shape[-1])
    out[:n] = audio[:n]
    return out


@lru_cache(maxsize=32)
def _mel_basis(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, device: str, dtype: torch.dtype
) -> torch.Tensor:
    """Slaney mel filters, cached per device and dtype (training calls this every step)."""
    import librosa

    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return torch.from_numpy(basis).to(device=device, dtype=dtype)


def spectrogram(
    audio: torch.Tensor, n_fft: int, hop_length: int, win_length: int | None = None, power: float = 2.0
) -> torch.Tensor:
    """|STFT|^power of (batch, samples) audio: Hann window, centred with reflect padding, not normalised."""
    win_length = win_length or n_fft
    window = torch.hann_window(win_length, device=audio.device, dtype=audio.dtype)
    spec = torch.stft(
        audio,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=True,
        pad_mode="reflect",
        normalized=False,
        return_complex=True,
    )
    return spec.abs() if power == 1.0 else (spec.real.square() + spec.imag.square()) ** (power / 2)


def mel_spectrogram(
    audio: torch.Tensor,
    sample_rate: int = 16000,
    n_fft: int = 2048,
    hop_length: int = 256,
    n_mels: int = 80,
    win_length: int | None = None,
    fmin: float = 0.0,
    fmax: float | None = None,
    power: float = 2.0,
) -> torch.Tensor:
    """Mel spectrogram of (..., samples) audio -> (..., n_mels, samples // hop_length).

    Power 2 by default, 1 for a magnitude mel; ``spectrogram``'s STFT and Slaney mel filters. The
    trailing frame of the centred STFT is dropped so that frames * hop_length equals the clip length.
    """
    shape = audio.shape
    magnitude = spectrogram(audio.reshape(-1, shape[-1]), n_fft, hop_length, win_length, power)
    basis = _mel_basis(sample_rate, n_fft, n_mels, float(fmin), fmax, str(audio.device), audio.dtype)
    mel = torch.matmul(basis, magnitude)[..., : shape[-1] // hop_length]
    return mel.reshape(*shape[:-1], n_mels, mel.shape[-1])


def log_mel(mel: torch.Tensor) -> torch.Tensor:
    """log(1 + S): the compression the authors' code applies before min-max normalisation."""
    return torch.log1p(mel)
