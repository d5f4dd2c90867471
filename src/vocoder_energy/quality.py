"""Quality of generated audio against the reference: D_STFT as the paper's authors computed it."""

from __future__ import annotations

import numpy as np
import torch

from .audio import spectrogram


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


def evaluate_quality(reference: np.ndarray, generated: np.ndarray) -> dict:
    """Every quality metric of this stage, each with its method and unit.

    Non-finite generated samples (a diverged model) make D_STFT NaN and are counted, not hidden.
    """
    return {
        "non_finite_samples": int(np.size(generated) - np.isfinite(generated).sum()),
        "d_stft": {
            "value": d_stft(reference, generated),
            "unit": "ln-power distance",
            "method": "measured",
            "definition": "mean |ln(1+|X|^2) - ln(1+|Y|^2)|, n_fft 1024, hop 256, Hann, centred",
        },
        "clips": int(len(reference)),
    }
