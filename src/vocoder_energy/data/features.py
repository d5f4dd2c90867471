"""Training features as the paper prepares them: 16 kHz, first 2^14 samples, 80-band mel, min-max, 80/20 split.

Each split is stored as one ``.npz`` holding ``audio`` (clips, samples), ``mel`` (clips, n_mels, frames)
and ``ids``, so a training job reads it in one go instead of thousands of small files.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vocoder_energy.core.files import open_durably, write_json
from vocoder_energy.data.audio import BadAudioError, fit_length, load_audio, log_mel, mel_spectrogram, resample
from vocoder_energy.data.corpus import CorpusError, read_metadata_lines

# The choices of features.normalisation and features.bad_files (tests/test_schema_sync.py keeps them and
# FeatureSettings' defaults equal to the config schema's).
NORMALISATIONS = ("per_spectrogram", "dataset", "dataset_all_clips")
BAD_FILES = ("skip", "fail")


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
    silence_threshold: float = 0.0  # a clip whose peak |sample| is at most this is silent
    min_clip_samples: int | None = None  # at sample_rate; None = one hop

    @property
    def min_samples(self) -> int:
        return self.hop_length if self.min_clip_samples is None else self.min_clip_samples

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


def clip_problem(audio: np.ndarray, settings: FeatureSettings) -> str | None:
    """Why a resampled clip is no training or test material (too short, silent), or None.

    A clip shorter than the segment but at least ``min_samples`` long is fine: it is zero-padded.
    """
    if audio.shape[-1] < settings.min_samples:
        return f"shorter than {settings.min_samples} samples ({audio.shape[-1]} at {settings.sample_rate} Hz)"
    peak = float(np.abs(audio[: settings.segment_samples]).max())
    if peak <= settings.silence_threshold:
        return f"silent (peak {peak:.3g} in the samples used, silence_threshold {settings.silence_threshold:g})"
    return None


def count_reasons(skipped: list[dict]) -> dict[str, int]:
    """Skipped files per reason without its details ("silent", "unreadable audio"...), most common first."""
    return dict(Counter(entry["reason"].split(" (", 1)[0] for entry in skipped).most_common())


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
    """Resampled, cropped clips in metadata order, and the files skipped (with reasons).

    With ``bad_files: fail`` the first bad file raises ``BadAudioError`` naming the file, its
    metadata line, what is wrong and what to do.
    """
    metadata = corpus / "metadata.csv"
    ids, clips, skipped = [], [], []
    for line, clip_id in tqdm(read_metadata_lines(corpus), desc="load + resample", unit=" clips"):
        path = corpus / "wavs" / f"{clip_id}.wav"
        try:
            audio, rate = load_audio(path)
            audio = resample(audio, rate, settings.sample_rate)
            problem = clip_problem(audio, settings)
            if problem:
                raise BadAudioError(path, problem)
        except BadAudioError as err:
            if settings.bad_files == "fail":
                raise BadAudioError(
                    path,
                    f"{err.reason}, listed on line {line} of {metadata}; replace the file or delete its line, "
                    "or set features: {bad_files: skip} to leave bad files out",
                ) from None
            tqdm.write(f"skipping {path} (line {line} of {metadata}): {err.reason}")
            skipped.append({"id": clip_id, "line": line, "file": str(path), "reason": err.reason})
            continue
        ids.append(clip_id)
        clips.append(fit_length(audio, settings.segment_samples))
    if skipped:
        summary = ", ".join(f"{n} {kind}" for kind, n in count_reasons(skipped).items())
        print(f"skipped {len(skipped)} of {len(skipped) + len(ids)} clips (bad_files: skip): {summary}")
    if not clips:
        raise BadAudioError(metadata, "no usable audio files (all skipped, see above); check the corpus")
    return ids, np.stack(clips), skipped


def compute_mels(audio: np.ndarray, settings: FeatureSettings, batch: int = 256) -> np.ndarray:
    out = [settings.mel(torch.from_numpy(audio[i : i + batch])).numpy() for i in range(0, len(audio), batch)]
    return np.concatenate(out).astype(np.float32)


def prepare_features(corpus: str | Path, out_dir: str | Path, settings: FeatureSettings) -> dict:
    """Write ``train.npz``, ``test.npz`` and ``manifest.json`` under ``out_dir``; returns the manifest."""
    if settings.normalisation not in NORMALISATIONS:
        raise ValueError(f"features.normalisation: {settings.normalisation!r} is not one of {NORMALISATIONS}")
    if settings.bad_files not in BAD_FILES:
        raise ValueError(f"features.bad_files: {settings.bad_files!r} is not one of {BAD_FILES}")
    corpus, out_dir = Path(corpus), Path(out_dir)
    ids, audio, skipped = load_clips(corpus, settings)
    mel = compute_mels(audio, settings)
    # Deterministic split: the last test_fraction of the corpus order is the test set (as the authors).
    n_test = max(1, round(len(ids) * settings.test_fraction))
    n_train = len(ids) - n_test
    if n_train < 1:
        raise CorpusError(
            f"{corpus}: {len(ids)} usable clip(s) cannot make both a training and a test split; add clips"
        )
    stats = None
    if settings.normalisation == "per_spectrogram":
        mel = normalise_per_spectrogram(mel)
    else:
        stats = dataset_bounds(mel, n_train, settings.normalisation)
        mel = normalise_dataset(mel, stats["min"], stats["max"])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
        with open_durably(out_dir / f"{name}.npz") as handle:  # streamed: a split can hold gigabytes
            np.savez(handle, audio=audio[part], mel=mel[part].astype(np.float32), ids=np.array(ids[part]))
    manifest = {
        "corpus": str(corpus),
        "settings": asdict(settings),
        "clips": {"train": n_train, "test": n_test, "skipped": len(skipped)},
        "skipped_by_reason": count_reasons(skipped),
        "skipped": skipped,
        "normalisation_stats": stats,
        "mel_frames": int(mel.shape[-1]),
    }
    write_json(manifest, out_dir / "manifest.json")
    return manifest


def load_split(path: str | Path, clips: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Audio, mels and ids of a split; its first ``clips`` items when given (evaluation.test_clips)."""
    with np.load(path) as data:
        audio, mel, ids = data["audio"], data["mel"], [str(i) for i in data["ids"]]
    return audio[:clips], mel[:clips], ids[:clips]
