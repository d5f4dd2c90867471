"""Vocoder families and the one entry point that builds them.

Adding a family: write ``models/<family>.py`` with a ``Vocoder`` subclass that sets ``family`` and
``presets`` (S/M/L), and add it to ``REGISTRY`` below.
"""

from __future__ import annotations

import inspect
from importlib import import_module
from typing import Any

from vocoder_energy.models.base import Vocoder

SIZES = ("S", "M", "L")

# family -> "module:Class", imported lazily so that building one family never imports the others.
REGISTRY: dict[str, str] = {
    "melgan": "vocoder_energy.models.melgan:MelGAN",
    "hifigan": "vocoder_energy.models.hifigan:HiFiGAN",
    "waveglow": "vocoder_energy.models.waveglow:WaveGlow",
    "waveflow": "vocoder_energy.models.waveflow:WaveFlow",
    "wavegrad": "vocoder_energy.models.wavegrad:WaveGrad",
    "diffwave": "vocoder_energy.models.diffwave:DiffWave",
}


def vocoder_class(family: str) -> type[Vocoder]:
    try:
        module_name, class_name = REGISTRY[family].split(":")
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"models: unknown vocoder family {family!r}; implemented: {known}") from None
    return getattr(import_module(module_name), class_name)


def family_source(family: str) -> str:
    """The family's module file, relative to the package (its code is part of every job of the family)."""
    module_name = REGISTRY[family].split(":")[0]
    return "/".join(module_name.split(".")[1:]) + ".py"


def build_vocoder(family: str, size: str, **overrides: Any) -> Vocoder:
    """The vocoder ``family`` at paper size ``size`` (S, M or L), with hyperparameter ``overrides``."""
    cls = check_hyperparameters(family, size, overrides)
    return cls(**{**cls.presets[size], **overrides})


def check_hyperparameters(family: str, size: str, overrides: dict[str, Any]) -> type[Vocoder]:
    """The family's class, after checking that ``size`` and every override name exist (clear errors)."""
    cls = vocoder_class(family)
    if size not in cls.presets:
        raise ValueError(f"models.{family}: unknown size {size!r}; known: {', '.join(cls.presets)}")
    accepted = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise ValueError(
            f"models.{family}.{size}: unknown hyperparameter(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}"
        )
    return cls


def check_inference_options(family: str, options: dict[str, Any]) -> None:
    """Options that change only how audio is generated, never the trained weights."""
    cls = vocoder_class(family)
    unknown = sorted(set(options) - set(cls.inference_options))
    if unknown:
        allowed = ", ".join(cls.inference_options) or "none"
        raise ValueError(f"inference.{family}: {', '.join(unknown)} cannot change at inference; allowed: {allowed}")


__all__ = [
    "REGISTRY",
    "SIZES",
    "Vocoder",
    "build_vocoder",
    "check_hyperparameters",
    "check_inference_options",
    "family_source",
    "vocoder_class",
]
