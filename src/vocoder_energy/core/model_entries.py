"""The two kinds of ``models:`` entry: a size we train (``S``/``M``/``L`` -> hyperparameter overrides) and a
released checkpoint we import (any other label -> ``{checkpoint, format, features}``).

    models:
      hifigan:
        S: {}                                   # trained here, the paper's preset
        LJ_V1:                                  # jik876's released V1, measured as released
          checkpoint: checkpoints/hifigan/LJ_V1/generator_v1
          format: jik876                        # the original project's file layout (models/importers)
          features: hifigan_22k                 # the mel front end it was trained on (data/recipes)

Everything after the generator file treats both alike; this module only says which is which (Snakemake
plans the jobs with it, the figures label with it), importing nothing heavy; ``core.config_checks`` checks
an entry before any job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TRAINED_SIZES = ("S", "M", "L")
CHECKPOINT_KEYS = ("checkpoint", "format", "features")  # required in a checkpoint entry
CHECKPOINT_OPTIONAL = ("options",)  # importer options (e.g. WaveGrad's published schedule: inference_steps)
SYNTHETIC_HINT = "python -m vocoder_energy.models.importers.synthetic"


def is_checkpoint(entry: Any) -> bool:
    """Whether a ``models.<family>.<label>`` value names a released checkpoint instead of a training."""
    return isinstance(entry, dict) and "checkpoint" in entry


def trained_jobs(models: dict) -> list[tuple[str, str]]:
    """(family, size) of every model trained here, in config order."""
    return [
        (family, size) for family, sizes in models.items() for size, entry in sizes.items() if not is_checkpoint(entry)
    ]


def checkpoint_jobs(models: dict) -> dict[tuple[str, str], dict]:
    """(family, label) -> entry of every released checkpoint, in config order."""
    return {
        (family, label): entry
        for family, sizes in models.items()
        for label, entry in sizes.items()
        if is_checkpoint(entry)
    }


def missing_checkpoints(models: dict) -> list[str]:
    """One line per checkpoint entry whose file is not there yet: said when Snakemake starts, not an error;
    the entry is left out of the run (``available_models``) until its file is there."""
    return [
        f"models.{family}.{label}.checkpoint: {entry['checkpoint']} does not exist (relative paths start at "
        f"{Path.cwd()}), so {family} {label} is left out of this run; download it (config/released.yaml says "
        f"from where), or write an untrained stand-in for a dry run with {SYNTHETIC_HINT}"
        for (family, label), entry in checkpoint_jobs(models).items()
        if not Path(entry["checkpoint"]).is_file()
    ]


def available_models(models: dict) -> dict:
    """``models`` without the checkpoint entries whose file is missing: config/released.yaml can list every
    release while you download the ones you want; one that arrives joins the next run (and the summary,
    tables and figure are redone with it)."""
    kept = {
        family: {
            label: entry
            for label, entry in sizes.items()
            if not is_checkpoint(entry) or Path(entry["checkpoint"]).is_file()
        }
        for family, sizes in models.items()
    }
    return {family: sizes for family, sizes in kept.items() if sizes}
