"""A trained generator on disk: its weights plus what rebuilds it (family, its class, size, hyperparameters).

Generation and cost jobs read these files; they import the models, not the training stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vocoder_energy.core.errors import InputError
from vocoder_energy.core.files import load_file, save_file
from vocoder_energy.models import Vocoder, add_families, build_vocoder, families, family_target


def save_generator(model: Vocoder, size: str, hyperparameters: dict, path: str | Path) -> None:
    """The trained generator (training form) plus what is needed to rebuild it."""
    state = {k: v.detach().cpu() for k, v in model.generator.state_dict().items()}
    # The class too: a family the config declared (families:) is rebuilt from the file alone.
    rebuild = {"family": model.family, "class": family_target(model.family), "size": size}
    save_file({**rebuild, "hyperparameters": hyperparameters, "generator": state}, path)


def load_generator(path: str | Path, device: torch.device | str = "cpu", **inference_options: Any) -> Vocoder:
    """Rebuild a vocoder from ``save_generator``'s file, ready for ``generate``.

    ``inference_options`` override hyperparameters that only change how audio is generated
    (sampling steps, WaveFlow's reverse pass, sigma), not the trained weights.
    """
    saved = load_file(path)
    family, trained_as = saved["family"], saved.get("class")  # files before plugin families have no class
    if trained_as and family not in families():
        add_families({family: trained_as}, key=str(path))
    elif trained_as and trained_as != family_target(family):
        raise InputError(
            f"{path}: trained as {trained_as}, but {family} is now {family_target(family)}; "
            "retrain it (its weights do not fit the other class)"
        )
    model = build_vocoder(saved["family"], saved["size"], **{**saved["hyperparameters"], **inference_options})
    model.generator.load_state_dict(saved["generator"])
    model.to(device)
    model.prepare_inference()
    return model
