"""Energy meters: one class per backend, and the choice of one for a device.

Backends: ``nvml`` (GPU counter), ``rapl`` (CPU package counters), ``pyjoules`` (the paper's tool, over
the same counters, units fixed) and ``estimated`` (wall time x assumed watts, never called measured).
``find_meter(device)`` is the shared contract (training energy uses it): a measured meter or None.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vocoder_energy.cost.meters.estimated import EstimatedMeter
from vocoder_energy.cost.meters.meter import BACKENDS, CHOICES, MeterUnavailable
from vocoder_energy.cost.meters.nvml import NvmlMeter, cuda_uuid
from vocoder_energy.cost.meters.pyjoules import PyJoulesMeter
from vocoder_energy.cost.meters.rapl import POWERCAP, RaplMeter

__all__ = [
    "BACKENDS",
    "CHOICES",
    "EstimatedMeter",
    "MeterUnavailable",
    "NvmlMeter",
    "PyJoulesMeter",
    "RaplMeter",
    "cuda_uuid",
    "find_meter",
    "select_meter",
]


def _default_meter(device: torch.device, powercap_root: str | Path):
    """Today's choice for ``auto``: NVML for a CUDA device, RAPL otherwise. Raises why it cannot."""
    if device.type == "cuda":
        return NvmlMeter(device.index or 0)
    return RaplMeter(powercap_root)


def find_meter(device: torch.device, powercap_root: str | Path = POWERCAP):
    """The meter that can see ``device``'s energy, or None where nothing can be read."""
    try:
        return _default_meter(device, powercap_root)
    except Exception:  # no pynvml/driver/counter; no RAPL, or unreadable without root since Linux 5.10
        return None


def select_meter(choice: str, device: torch.device, assumed_watts: float, powercap_root: str | Path = POWERCAP):
    """The meter ``measurement.meter`` asks for. ``auto`` falls back to ``estimated`` (with the reason and
    the assumed watts) where no counter can be read; a named backend that cannot read raises
    ``MeterUnavailable``: a study that asked for measured energy must not silently get an estimate."""
    if choice not in CHOICES:
        raise ValueError(f"measurement.meter: {choice!r} is not one of {', '.join(CHOICES)}")
    if choice == "estimated":
        return EstimatedMeter(assumed_watts, reason="measurement.meter: estimated (chosen in the config)")
    if choice == "pyjoules":
        return PyJoulesMeter(device)  # pyJoules reads its own fixed /sys/class/powercap/intel-rapl
    if choice == "auto":
        try:
            return _default_meter(device, powercap_root)
        except Exception as err:
            what = "NVML" if device.type == "cuda" else f"RAPL under {powercap_root}"
            return EstimatedMeter(assumed_watts, reason=f"no readable {what} ({type(err).__name__}: {err})")
    try:
        if choice == "nvml":
            if device.type != "cuda":
                raise ValueError(f"the job runs on {device}, not a CUDA device")
            return NvmlMeter(device.index or 0)
        return RaplMeter(powercap_root)
    except Exception as err:
        raise MeterUnavailable(
            f"measurement.meter: {choice} cannot read this machine ({type(err).__name__}: {err}); "
            "use auto to fall back to an estimate"
        ) from err
