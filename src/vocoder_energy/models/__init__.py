"""Vocoder families and the one entry point that builds them.

Adding a family: write ``models/<family>.py`` with a ``Vocoder`` subclass that sets ``family`` and
``presets`` (S/M/L), and add it to ``REGISTRY`` below.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .base import Vocoder

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

# Families of the paper (used by the config schema); every one must be in REGISTRY to be trained.
PAPER_FAMILIES = ("melgan", "hifigan", "waveglow", "waveflow", "wavegrad", "diffwave")


def vocoder_class(family: str) -> type[Vocoder]:
    try:
        module_name, class_name = REGISTRY[family].split(":")
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"unknown vocoder family {family!r}; implemented: {known}") from None
    return getattr(import_module(module_name), class_name)


def build_vocoder(family: str, size: str, **overrides: Any) -> Vocoder:
    """The vocoder ``family`` at paper size ``size`` (S, M or L), with hyperparameter ``overrides``."""
    cls = vocoder_class(family)
    if size not in cls.presets:
        raise ValueError(f"unknown size {size!r} for {family}; known: {', '.join(cls.presets)}")
    unknown = set(overrides) - set(_accepted_arguments(cls))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) for {family}: {', '.join(sorted(unknown))}")
    return cls(**{**cls.presets[size], **overrides})


def _accepted_arguments(cls: type[Vocoder]) -> list[str]:
    import inspect

    return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]


__all__ = ["PAPER_FAMILIES", "REGISTRY", "SIZES", "Vocoder", "build_vocoder", "vocoder_class"]
