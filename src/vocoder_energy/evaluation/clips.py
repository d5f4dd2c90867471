"""The generated-clips file (``results/generated/<model>_<size>.npz``): one writer, one reader.

The generate rule writes it; quality, MOS, the listening stimuli and the report's audio examples read it.
It holds ``generated`` and ``reference`` (clips, samples), row by row, and the utterance ``ids``. This
module needs only numpy, so the jobs that read clips do not import torch or the models.
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


def save_clips(clips: GeneratedClips, path: str | Path) -> None:
    """Write ``clips`` durably (streamed; a killed job leaves no partial file)."""
    with open_durably(path) as handle:
        np.savez(handle, generated=clips.generated, reference=clips.reference, ids=np.array(clips.ids))


def load_clips(path: str | Path) -> GeneratedClips:
    """The clips of a ``save_clips`` file; ``ValueError`` naming the file when it is not one."""
    try:
        with np.load(path) as data:
            clips = GeneratedClips(data["generated"], data["reference"], [str(i) for i in data["ids"]])
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: not a generated-audio file with generated/reference/ids ({err})") from err
    if not (len(clips.generated) == len(clips.reference) == len(clips.ids)):
        raise ValueError(f"{path}: generated, reference and ids differ in length")
    return clips
