"""One ``train`` job of the workflow: a run directory keyed by what defines the run, the run, its outputs.

Checkpoints live outside the workflow's declared outputs (Snakemake deletes those before a job runs), in
a directory keyed by everything that defines the run except its budget: a killed job resumes where it
stopped, and a larger budget continues the same run. The training code enters the key by the normalised
syntax tree of each module that decides what is trained (``core.fingerprints``): a reworded comment or
docstring keeps the run, a change to what the code does starts a new one.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from vocoder_energy.core.files import write_durably, write_json
from vocoder_energy.core.fingerprints import source_fingerprint
from vocoder_energy.data import audio as _audio
from vocoder_energy.data.corpus import file_sha256
from vocoder_energy.data.features import load_split
from vocoder_energy.models import Vocoder, base, build_vocoder
from vocoder_energy.models.generator_files import save_generator
from vocoder_energy.training import loop, precision, run, schedules
from vocoder_energy.training.loop import train
from vocoder_energy.training.monitoring import Validation
from vocoder_energy.training.run import OPERATIONAL_SETTINGS, TrainingSettings


def fingerprint(*parts: Any) -> str:
    """Short stable hash of JSON-serialisable parts."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def code_files(model: Vocoder) -> list[Path]:
    """The modules whose code decides what ``model``'s run trains: its family, the model base, the audio
    features, schedules, precision, the run, the loop and this job (which seeds the initial weights)."""
    modules = (
        type(model).__module__,
        base.__name__,
        __name__,
        _audio.__name__,
        schedules.__name__,
        precision.__name__,
        run.__name__,
        loop.__name__,
    )
    return [Path(sys.modules[module].__file__) for module in modules]


def run_key(
    family: str,
    size: str,
    hyperparameters: dict,
    settings: TrainingSettings,
    train_features: str | Path,
    code: Iterable[str | Path],
) -> str:
    """The key of a run's directory: a new one for new data, settings or training ``code`` (its syntax
    trees: comments, docstrings and formatting do not count); the same for a larger budget."""
    science = {k: v for k, v in asdict(settings).items() if k not in OPERATIONAL_SETTINGS}
    trees = [source_fingerprint(path) for path in code]
    return fingerprint(family, size, hyperparameters, science, file_sha256(train_features), trees)


def run_training_job(
    family: str,
    size: str,
    hyperparameters: dict,
    settings: TrainingSettings,
    train_features: str | Path,
    generator_out: str | Path,
    summary_out: str | Path,
    losses_out: str | Path,
    checkpoint_root: str | Path,
    validation_features: str | Path | None = None,
    **train_options: Any,
) -> dict[str, Any]:
    """One ``{family}_{size}`` job of the workflow: train, then write the generator, summary and loss log.

    ``validation_features``: held-out clips to validate on every ``settings.validation_every_seconds``.

    ``train_options`` go to ``train`` (device, meter, assumed_watts, carbon_intensity_kg_per_kwh, ...).
    """
    audio, mel, _ = load_split(train_features)
    torch.manual_seed(settings.seed)  # the initial weights are part of the run
    model = build_vocoder(family, size, **hyperparameters)
    key = run_key(family, size, hyperparameters, settings, train_features, code_files(model))
    run_dir = Path(checkpoint_root) / f"{family}_{size}-{key}"
    validation = None
    if validation_features is not None and settings.validation_every_seconds is not None:
        held_out_audio, held_out_mel, _ = load_split(validation_features)
        validation = Validation(
            held_out_audio,
            held_out_mel,
            settings.validation_every_seconds,
            run_dir / "validation",
            model.sample_rate,
            settings.validation_clips,
            settings.seed,
        )
    checkpoint, loss_log = run_dir / "checkpoint.pt", run_dir / "losses.jsonl"
    summary = train(model, audio, mel, settings, checkpoint, loss_log, validation=validation, **train_options)
    summary.update(size=size, hyperparameters=hyperparameters, checkpoint=str(checkpoint))
    save_generator(model, size, hyperparameters, generator_out)
    write_durably(loss_log.read_bytes(), losses_out)
    write_json(summary, summary_out)
    return summary
