"""A GPU power limit for the length of a block, through NVML, and the GPU's own limit restored afterwards,
whatever happens inside (an exception, an interrupt). Setting one needs root (or a driver configured to
let users set it); where it cannot be set the setting is skipped with NVML's reason, never measured at the
wrong limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from vocoder_energy.cost.meters.nvml import nvml_handle


class SettingUnavailable(RuntimeError):
    """A deployment setting this machine cannot run; the message says why (the point is reported skipped)."""


def _nvml():
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception as err:
        raise SettingUnavailable(f"a power limit needs NVML ({type(err).__name__}: {err})") from err


@contextmanager
def power_limit(device: torch.device, watts: float, nvml=None) -> Iterator[dict]:
    """Hold the GPU of ``device`` at ``watts`` inside the block; yields what was set and what it was.
    ``nvml``: the pynvml module (tests give a fake one)."""
    if device.type != "cuda":
        raise SettingUnavailable(f"a power limit is set on a GPU through NVML; this job runs on {device}")
    nvml = nvml or _nvml()
    handle = nvml_handle(nvml, device.index or 0)
    try:
        before = nvml.nvmlDeviceGetPowerManagementLimit(handle)  # milliwatts
        low, high = nvml.nvmlDeviceGetPowerManagementLimitConstraints(handle)
    except Exception as err:
        raise SettingUnavailable(f"this GPU does not report its power limit ({type(err).__name__}: {err})") from err
    wanted = round(watts * 1000)
    if not low <= wanted <= high:
        raise SettingUnavailable(f"{watts:g} W is outside this GPU's allowed limits, {low / 1000:g}-{high / 1000:g} W")
    try:
        nvml.nvmlDeviceSetPowerManagementLimit(handle, wanted)
    except Exception as err:
        raise SettingUnavailable(
            f"NVML refused to set the power limit ({type(err).__name__}: {err}); it needs root, "
            "or `nvidia-smi -pm 1` and a driver that lets users set it"
        ) from err
    try:
        yield {"set_watts": wanted / 1000, "previous_watts": before / 1000}
    finally:
        nvml.nvmlDeviceSetPowerManagementLimit(handle, before)
