"""Training features as the paper prepares them: 16 kHz, first 2^14 samples, 80-band mel, min-max, 80/20 split.

Each split is stored as one ``.npz`` holding ``audio`` (clips, samples), ``mel`` (clips, n_mels, frames)
and ``ids``, so a training job reads it in one go instead of thousands of small files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .audio import BadAudioError, fit_length, load_audio, log_mel, mel_spectrogram, resample
from .corpus import read_metadata

NORMALISATIONS = ("per_spectrogram", "dataset", "dataset_all_clips")


@dataclass(frozen=True)
class FeatureSettings:
    sample_rate: int = 16000
    segment_samples: int = 16384
    n_mels: int = 80
    n_fft: int = 2048
    hop_length: int = 256
    normalisation: str = "per_spectrogram"
    test_fraction: float = 0.2
    bad_files: str = "skip"

    def mel(self, audio: torch.Tensor) -> torch.Tensor:
        """log(1 + mel power) of audio, the representation both normalisations start from."""
        power = mel_spectrogram(audio, self.sample_rate, self.n_fft, self.hop_length, self.n_mels)
        return log_mel(power)


def normalise_per_spectrogram(mel: np.ndarray) -> np.ndarray:
    """Min-max of each spectrogram to [0, 1] (the paper's text)."""
    low = mel.min(axis=(-2, -1), keepdims=True)
    high = mel.max(axis=(-2, -1), keepdims=True)
    return (mel - low) / np.maximum(high - low, 1e-8)


def normalise_dataset(mel: np.ndarray, low: float, high: float) -> np.ndarray:
    """Min-max with dataset-wide bounds (see ``dataset_bounds``)."""
    return (mel - low) / max(high - low, 1e-8)


def dataset_bounds(mel: np.ndarray, n_train: int, normalisation: str) -> dict[str, float]:
    """Min-max bounds of the log mels for a dataset-wide normalisation.

    ``dataset``: over the training split only (no information from the test clips).
    ``dataset_all_clips``: exactly as the authors' code computes them: over every clip, test included,
    before the split, with the running minimum and maximum both starting at 0.
    """
    if normalisation == "dataset":
        return {"min": float(mel[:n_train].min()), "max": float(mel[:n_train].max())}
    return {"min": min(0.0, float(mel.min())), "max": max(0.0, float(mel.max()))}


def load_clips(corpus: Path, settings: FeatureSettings) -> tuple[list[str], np.ndarray, list[dict]]:
    """Resampled, cropped clips in metadata order, and the files skipped (with reasons)."""
    ids, clips, skipped = [], [], []
    for clip_id in tqdm(read_metadata(corpus), desc="load + resample", unit=" clips"):
        path = corpus / "wavs" / f"{clip_id}.wav"
        try:
            audio, rate = load_audio(path)
        except BadAudioError as err:
            if settings.bad_files == "fail":
                raise
            tqdm.write(f"skipping {err}")
            skipped.append({"id": clip_id, "file": str(path), "reason": str(err)})
            continue
        ids.append(clip_id)
        clips.append(fit_length(resample(audio, rate, settings.sample_rate), settings.segment_samples))
    if not clips:
        raise BadAudioError(f"{corpus}: no usable audio files")
    return ids, np.stack(clips), skipped


def compute_mels(audio: np.ndarray, settings: FeatureSettings, batch: int = 256) -> np.ndarray:
    out = [settings.mel(torch.from_numpy(audio[i : i + batch])).numpy() for i in range(0, len(audio), batch)]
    return np.concatenate(out).astype(np.float32)


def prepare_features(corpus: str | Path, out_dir: str | Path, settings: FeatureSettings) -> dict:
    """Write ``train.npz``, ``test.npz`` and ``manifest.json`` under ``out_dir``; returns the manifest."""
    if settings.normalisation not in NORMALISATIONS:
        raise ValueError(f"features.normalisation: {settings.normalisation!r} is not one of {NORMALISATIONS}")
    corpus, out_dir = Path(corpus), Path(out_dir)
    ids, audio, skipped = load_clips(corpus, settings)
    mel = compute_mels(audio, settings)
    # Deterministic split: the last test_fraction of the corpus order is the test set (as the authors).
    n_test = max(1, round(len(ids) * settings.test_fraction))
    n_train = len(ids) - n_test
    if n_train < 1:
        raise ValueError(f"{corpus}: {len(ids)} usable clip(s) cannot make both a training and a test split")
    stats = None
    if settings.normalisation == "per_spectrogram":
        mel = normalise_per_spectrogram(mel)
    else:
        stats = dataset_bounds(mel, n_train, settings.normalisation)
        mel = normalise_dataset(mel, stats["min"], stats["max"])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
        np.savez(out_dir / f"{name}.npz", audio=audio[part], mel=mel[part].astype(np.float32), ids=np.array(ids[part]))
    manifest = {
        "corpus": str(corpus),
        "settings": asdict(settings),
        "clips": {"train": n_train, "test": n_test, "skipped": len(skipped)},
        "skipped": skipped,
        "normalisation_stats": stats,
        "mel_frames": int(mel.shape[-1]),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def load_split(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    with np.load(path) as data:
        return data["audio"], data["mel"], [str(i) for i in data["ids"]]
