"""Test features through a released checkpoint's own mel front end (``data.recipes``), once per recipe.

The same test utterances as the study's split (its ``ids``), the same stretch of each (the first
``seconds``), read again from the corpus and resampled to the recipe's rate: a released model and a model
trained here are scored on the same speech. The stretch is cut to whole hops of the recipe, so that the
original's frame rule gives the mel and the reference has exactly the samples the mel describes. Stored as
the study's splits are (``audio``, ``mel``, ``ids``), so generation reads either alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vocoder_energy.core.files import open_durably, write_json
from vocoder_energy.data.audio import fit_length, load_audio, resample
from vocoder_energy.data.features import load_split
from vocoder_energy.data.recipes import MelRecipe, describe


def recipe_samples(recipe: MelRecipe, seconds: float) -> int:
    """Samples of a ``seconds`` stretch at the recipe's rate, cut down to whole hops."""
    return int(seconds * recipe.sample_rate) // recipe.hop_length * recipe.hop_length


def prepare_recipe_features(
    corpus: str | Path, study_test: str | Path, recipe: MelRecipe, seconds: float, out_dir: str | Path
) -> dict:
    """Write ``test.npz`` and ``manifest.json`` of ``recipe`` under ``out_dir``; returns the manifest."""
    corpus, out_dir = Path(corpus), Path(out_dir)
    _, _, ids = load_split(study_test)
    samples = recipe_samples(recipe, seconds)
    if samples < 1 or recipe.frames(samples) < 1:
        raise ValueError(
            f"{recipe.name}: a {seconds:g} s stretch is shorter than one hop ({recipe.hop_length} samples)"
        )
    audio = np.zeros((len(ids), samples), dtype=np.float32)
    for row, clip_id in enumerate(tqdm(ids, desc=f"{recipe.name}: load + resample", unit=" clips")):
        clip, rate = load_audio(corpus / "wavs" / f"{clip_id}.wav")
        audio[row] = fit_length(resample(clip, rate, recipe.sample_rate), samples)
    mel = np.concatenate(
        [recipe.mel(torch.from_numpy(audio[i : i + 64])).numpy() for i in range(0, len(ids), 64)]
    ).astype(np.float32)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open_durably(out_dir / "test.npz") as handle:
        np.savez(handle, audio=audio, mel=mel, ids=np.array(ids))
    manifest = {
        "recipe": recipe.name,
        "front_end": describe(recipe),
        "source": recipe.source,
        "sample_rate": recipe.sample_rate,
        "hop_length": recipe.hop_length,
        "n_mels": recipe.n_mels,
        "clips": len(ids),
        "samples": samples,
        "mel_frames": int(mel.shape[-1]),
        "study_test_split": str(study_test),
    }
    write_json(manifest, out_dir / "manifest.json")
    return manifest
