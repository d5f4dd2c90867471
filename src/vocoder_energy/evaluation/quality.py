"""Quality of generated audio against the reference: D_STFT as the paper's authors computed it, beside the
objective metrics of ``metrics``, per utterance and aggregated."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from vocoder_energy.core.intervals import t_interval
from vocoder_energy.data.audio import spectrogram
from vocoder_energy.evaluation.metrics import (
    D_STFT_COLUMNS,
    SAMPLE_RATE,
    check_packages,
    columns,
    score_utterance,
)


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


def evaluate_quality(
    reference: np.ndarray,
    generated: np.ndarray,
    ids=None,
    metrics=(),
    multiscale: bool = False,
    sample_rate: int = SAMPLE_RATE,
) -> dict:
    """Every quality metric of this stage, per utterance and aggregated (mean and 95 % t-interval over
    utterances), each with its unit, direction and method.

    D_STFT over the whole batch is the paper's number (the mean of the per-clip values, as all clips have
    one length). Non-finite generated samples (a diverged model) make the scores NaN and are counted, not
    hidden. ``metrics`` names entries of ``vocoder_energy.evaluation.metrics.METRICS``; their packages are checked
    before any work.
    """
    check_packages(metrics)
    reference, generated = np.asarray(reference), np.asarray(generated)
    ids = [str(i) for i in (ids if ids is not None else range(len(reference)))]
    chosen = [D_STFT_COLUMNS["d_stft"]] + ([D_STFT_COLUMNS["d_stft_multiscale"]] if multiscale else [])
    chosen += columns(metrics)
    rows = []
    for utterance, ref, gen in tqdm(
        list(zip(ids, reference, generated, strict=True)), desc="quality", unit=" clips", disable=len(ids) < 4
    ):
        row = {"utterance": utterance, "d_stft": d_stft(ref, gen)}
        if multiscale:
            row["d_stft_multiscale"] = d_stft_multiscale(ref, gen)
        rows.append(row | score_utterance(ref, gen, metrics, sample_rate))
    aggregated = {
        column.name: t_interval([row[column.name] for row in rows])
        | {
            "unit": column.unit,
            "higher_is_better": column.higher_is_better,
            "definition": column.description,
            "method": "measured",
        }
        for column in chosen
    }
    return {
        "non_finite_samples": int(np.size(generated) - np.isfinite(generated).sum()),
        "d_stft": {
            "value": d_stft(reference, generated),
            "unit": "ln-power distance",
            "method": "measured",
            "definition": "mean |ln(1+|X|^2) - ln(1+|Y|^2)|, n_fft 1024, hop 256, Hann, centred",
        },
        "metrics": aggregated,
        "utterances": rows,
        "clips": int(len(reference)),
    }
