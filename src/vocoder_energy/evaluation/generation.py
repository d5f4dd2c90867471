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
    """Vocode the first ``clips`` test mels (all when None) and save them with their references."""
    reference, mel, ids = load_split(test_features, clips)
    count = len(ids)
    model.to(device)
    batches = []
    for start in tqdm(range(0, count, batch_size), desc=f"generate {model.family}", unit=" batches"):
        batch = torch.from_numpy(mel[start : min(start + batch_size, count)]).to(device)
        batches.append(model.generate(batch, seed=seed + start).float().cpu().numpy())
    save_clips(GeneratedClips(np.concatenate(batches), reference, ids), out_path)
    return count
