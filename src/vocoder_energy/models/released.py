"""A released checkpoint as a model of the study: imported (``importers``), checked against the mel front end
it is said to take (``data.recipes``), and saved as a generator file with where its weights came from.

The generator file then goes through generation, quality, FLOPs and energy exactly as a trained one; the
provenance document takes the training summary's place in ``results/summary.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vocoder_energy.core.files import save_file, write_json
from vocoder_energy.data.corpus import file_sha256
from vocoder_energy.data.recipes import RECIPES, describe, recipe_for
from vocoder_energy.models import family_target
from vocoder_energy.models.importers import CheckpointImportError, ImportedModel, import_checkpoint

# What a recipe fixes that the weights must agree with (their first conv's input, their upsampling, the rate).
MUST_AGREE = ("n_mels", "hop_length", "sample_rate")


def save_imported(imported: ImportedModel, origin: dict, path: str | Path) -> None:
    """The imported generator in ``generator_files``' form (family, class, preset, hyperparameters, weights),
    so that ``load_generator`` reads it as a trained one; ``origin`` says where the weights came from. Kept
    here rather than beside ``save_generator``: that module is part of every training's code."""
    rebuild = {"family": imported.family, "class": family_target(imported.family), "size": imported.size}
    state = {k: v.detach().cpu().contiguous() for k, v in imported.state_dict.items()}
    save_file({**rebuild, "hyperparameters": imported.hyperparameters, "generator": state, "origin": origin}, path)


def check_recipe(path: str, hyperparameters: dict[str, Any], recipe_name: str) -> None:
    """The recipe gives the mel the weights expect, or an error naming the file, what differs and which
    recipes would fit."""
    recipe = recipe_for(recipe_name)
    differ = [
        f"{name} {hyperparameters[name]} (recipe: {getattr(recipe, name)})"
        for name in MUST_AGREE
        if hyperparameters[name] != getattr(recipe, name)
    ]
    if differ:
        fitting = [
            name
            for name, other in sorted(RECIPES.items())
            if all(hyperparameters[key] == getattr(other, key) for key in MUST_AGREE)
        ]
        raise CheckpointImportError(
            f"{path}: does not take the features of recipe {recipe_name}: the checkpoint has {', '.join(differ)}; "
            f"recipes that fit its shapes: {', '.join(fitting) or 'none'} (set features: to one of them)"
        )


def import_released(
    checkpoint: str,
    format: str,
    recipe_name: str,
    label: str,
    generator_out: str | Path,
    provenance_out: str | Path,
    options: dict | None = None,
) -> dict:
    """Import ``checkpoint``, check it against ``recipe_name``, write the generator file and the provenance
    document; returns the provenance."""
    imported = import_checkpoint(checkpoint, format, options)
    check_recipe(checkpoint, imported.hyperparameters, recipe_name)
    provenance = {
        "weights": "released",
        "family": imported.family,
        "label": label,
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": file_sha256(checkpoint),
        "checkpoint_bytes": Path(checkpoint).stat().st_size,
        "format": format,
        "project": imported.source["project"],
        "features": recipe_name,
        "front_end": describe(recipe_for(recipe_name)),
        "importer_options": options or {},
        "configuration": {k: v for k, v in imported.config.items() if not str(k).startswith("_")},
        "dropped": imported.dropped,
        "notes": imported.notes,
    }
    origin = {key: provenance[key] for key in ("checkpoint", "checkpoint_sha256", "format", "features")}
    save_imported(imported, origin, generator_out)
    write_json(provenance, provenance_out)
    return provenance
