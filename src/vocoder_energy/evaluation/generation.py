"""Generated audio for the test split: what the quality metrics (and listeners) judge (file format: ``clips``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vocoder_energy.data.features import load_split
from vocoder_energy.evaluation.clips import GeneratedClips, save_clips
from vocoder_energy.models import Vocoder


def generate_test_audio(
    model: Vocoder,
    test_features: str | Path,
    out_path: str | Path,
    clips: int | None = None,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> int:
    """Vocode the first ``clips`` test mels (all when None) and save them with their references, at the
    model's rate. A released model's front end may give a frame more than the reference fills (a centred
    STFT's last frame): the audio past the reference's end is cut off."""
    reference, mel, ids = load_split(test_features, clips)
    count = len(ids)
    model.to(device)
    batches = []
    for start in tqdm(range(0, count, batch_size), desc=f"generate {model.family}", unit=" batches"):
        batch = torch.from_numpy(mel[start : min(start + batch_size, count)]).to(device)
        batches.append(model.generate(batch, seed=seed + start).float().cpu().numpy())
    generated = np.concatenate(batches)[:, : reference.shape[-1]]
    save_clips(GeneratedClips(generated, reference, ids, model.sample_rate), out_path)
    return count
