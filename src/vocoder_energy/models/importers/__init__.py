"""Importers of released vocoder checkpoints: each reads one original project's file and turns it into one of
our families (hyperparameters + a state dict for our generator), without running any of the file's code.

``import_checkpoint(path, format, options)`` -> ``ImportedModel``; ``load_imported(imported)`` -> our ``Vocoder``,
the weights loaded strictly. Formats (``FORMATS``): ``jik876`` (HiFi-GAN), ``descript`` (MelGAN),
``nvidia_waveglow`` (WaveGlow), ``lmnt`` (DiffWave), ``ivanvovk`` (WaveGrad), ``l0sg`` (WaveFlow), ``vocos``
and ``bigvgan``. Import options (a dict) are per format (``Importer.options``, checked): ``ivanvovk`` takes
``inference_steps`` (a published schedule: 6, 7, 12, 25, 50 or 100 steps; default 6). The containers, key tables
and published configurations are those of docs/shared reference ``released-checkpoints.md``; every key of a
file is mapped or knowingly dropped, every shape checked. Files are read with ``weights_only=True``; only
WaveGlow's pickled module goes through the restricted reader ``safe_pickle``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vocoder_energy.models.base import Vocoder
from vocoder_energy.models.importers.bigvgan import BigVGANImporter
from vocoder_energy.models.importers.common import (
    CheckpointImportError,
    ImportedModel,
    Importer,
    UnrepresentableError,
)
from vocoder_energy.models.importers.descript import MelGANImporter
from vocoder_energy.models.importers.ivanvovk import WaveGradImporter
from vocoder_energy.models.importers.jik876 import HiFiGANImporter
from vocoder_energy.models.importers.l0sg import WaveFlowImporter
from vocoder_energy.models.importers.lmnt import DiffWaveImporter
from vocoder_energy.models.importers.nvidia_waveglow import WaveGlowImporter
from vocoder_energy.models.importers.vocos import VocosImporter

# The one registry: what each format is (family, anchor, container) is on its importer; common's guessing of a
# file's format reads this too. Its order is that of the "known:" list.
FORMATS: dict[str, Importer] = {
    importer.format: importer
    for importer in (
        HiFiGANImporter(),
        MelGANImporter(),
        WaveGlowImporter(),
        DiffWaveImporter(),
        WaveGradImporter(),
        WaveFlowImporter(),
        VocosImporter(),
        BigVGANImporter(),
    )
}


def import_checkpoint(path: str | Path, format: str, options: dict | None = None) -> ImportedModel:
    """The released checkpoint at ``path``, in the original project's ``format``, as one of our families.

    ``options``: the format's import options (``FORMATS[format].options``: option -> accepted values); an
    unknown option or value raises ``CheckpointImportError`` naming the file and what is accepted."""
    if format not in FORMATS:
        raise CheckpointImportError(f"{path}: unknown checkpoint format {format!r}; known: {', '.join(FORMATS)}")
    return FORMATS[format].run(path, options)


def load_imported(imported: ImportedModel, device: torch.device | str = "cpu", **inference_options) -> Vocoder:
    """Our model with the imported weights (strict load), ready for ``generate``."""
    from vocoder_energy.models import build_vocoder

    model = build_vocoder(imported.family, imported.size, **{**imported.hyperparameters, **inference_options})
    model.generator.load_state_dict(imported.state_dict, strict=True)
    model.to(device)
    model.prepare_inference()
    return model


__all__ = [
    "FORMATS",
    "CheckpointImportError",
    "ImportedModel",
    "UnrepresentableError",
    "import_checkpoint",
    "load_imported",
]
