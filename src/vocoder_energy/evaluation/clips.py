"""The generated-clips file (``results/generated/<model>_<size>.npz``): one writer, one reader.

The generate rule writes it; quality, MOS, the listening stimuli and the report's audio examples read it.
It holds ``generated`` and ``reference`` (clips, samples), row by row, the utterance ``ids`` and the
``sample_rate`` of both (the model's own: a released checkpoint may run at 22.05 or 24 kHz; files written
before it was stored are 16 kHz). This module needs only numpy, so the jobs that read clips do not import
torch or the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocoder_energy.core.files import open_durably


@dataclass(frozen=True)
class GeneratedClips:
    """One model's generated test clips beside their references, and the utterance ids."""

    generated: np.ndarray  # (clips, samples)
    reference: np.ndarray  # (clips, samples)
    ids: list[str]
    sample_rate: int = 16000

    def at_rate(self, sample_rate: int) -> GeneratedClips:
        """Both signals resampled to ``sample_rate`` (the clips themselves when they are at it already)."""
        if sample_rate == self.sample_rate:
            return self
        from vocoder_energy.data.audio import resample  # soxr, only where a rate differs

        def convert(audio: np.ndarray) -> np.ndarray:
            return np.stack([resample(clip, self.sample_rate, sample_rate) for clip in audio]).reshape(len(audio), -1)

        return GeneratedClips(convert(self.generated), convert(self.reference), self.ids, sample_rate)


def save_clips(clips: GeneratedClips, path: str | Path) -> None:
    """Write ``clips`` durably (streamed; a killed job leaves no partial file)."""
    with open_durably(path) as handle:
        np.savez(
            handle,
            generated=clips.generated,
            reference=clips.reference,
            ids=np.array(clips.ids),
            sample_rate=np.array(clips.sample_rate),
        )


def load_clips(path: str | Path, sample_rate: int | None = None) -> GeneratedClips:
    """The clips of a ``save_clips`` file, resampled to ``sample_rate`` when given; ``ValueError`` naming
    the file when it is not one."""
    try:
        with np.load(path) as data:
            rate = int(data["sample_rate"]) if "sample_rate" in data else 16000
            clips = GeneratedClips(data["generated"], data["reference"], [str(i) for i in data["ids"]], rate)
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: not a generated-audio file with generated/reference/ids ({err})") from err
    if not (len(clips.generated) == len(clips.reference) == len(clips.ids)):
        raise ValueError(f"{path}: generated, reference and ids differ in length")
    return clips if sample_rate is None else clips.at_rate(sample_rate)
