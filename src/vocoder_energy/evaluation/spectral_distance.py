"""D_STFT, the paper's spectral distance, as its authors computed it. A module of its own: training's
validation logs it too, and should not import (and be fingerprinted with) every quality metric."""

from __future__ import annotations

import numpy as np
import torch

from vocoder_energy.data.audio import spectrogram


def log_power_spectrogram(audio: torch.Tensor, n_fft: int = 1024, hop_length: int = 256) -> torch.Tensor:
    """ln(1 + |STFT|^2) with the package's one STFT definition (Hann, win = n_fft, centred, reflect)."""
    return torch.log1p(spectrogram(audio, n_fft, hop_length))


def d_stft(reference, generated, n_fft: int = 1024, hop_length: int = 256) -> float:
    """Mean over (batch, bins, frames) of |ln(1+|X|^2) - ln(1+|Y|^2)| for batches of 16 kHz waveforms.

    ``reference`` and ``generated`` are (batch, samples) or (samples,) arrays or tensors of equal shape,
    in [-1, 1] at their native level (the distance depends on absolute level by design).
    """
    x = torch.as_tensor(np.asarray(reference, dtype=np.float32) if not torch.is_tensor(reference) else reference)
    y = torch.as_tensor(np.asarray(generated, dtype=np.float32) if not torch.is_tensor(generated) else generated)
    if x.shape != y.shape:
        raise ValueError(f"d_stft: reference {tuple(x.shape)} and generated {tuple(y.shape)} differ in shape")
    x, y = x.float().reshape(-1, x.shape[-1]), y.float().reshape(-1, y.shape[-1])
    distance = (log_power_spectrogram(x, n_fft, hop_length) - log_power_spectrogram(y, n_fft, hop_length)).abs()
    return float(distance.mean())


# The authors' code also holds this multi-scale variant (a sum over scales); they logged the single scale.
MULTISCALE_FFTS = (2048, 1024, 512, 256)


def d_stft_multiscale(reference, generated) -> float:
    """Sum over n_fft 2048, 1024, 512, 256 (hop n_fft / 4) of ``d_stft``: ~4x the single-scale value."""
    return sum(d_stft(reference, generated, n_fft, n_fft // 4) for n_fft in MULTISCALE_FFTS)
