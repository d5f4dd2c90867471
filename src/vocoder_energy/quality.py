"""Quality of generated audio against the reference: D_STFT as the paper's authors computed it."""

from __future__ import annotations

import numpy as np
import torch


def log_power_spectrogram(audio: torch.Tensor, n_fft: int = 1024, hop_length: int = 256) -> torch.Tensor:
    """ln(1 + |STFT|^2): Hann window, win = n_fft, centred with reflect padding, not normalised."""
    window = torch.hann_window(n_fft, dtype=audio.dtype, device=audio.device)
    spec = torch.stft(
        audio, n_fft, hop_length, n_fft, window, center=True, pad_mode="reflect", normalized=False, return_complex=True
    )
    return torch.log1p(spec.real.square() + spec.imag.square())


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
    """Every quality metric of this stage, each with its method and unit."""
    return {
        "d_stft": {
            "value": d_stft(reference, generated),
            "unit": "ln-power distance",
            "method": "measured",
            "definition": "mean |ln(1+|X|^2) - ln(1+|Y|^2)|, n_fft 1024, hop 256, Hann, centred",
        },
        "clips": int(len(reference)),
    }
