"""GPU energy from NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``: millijoules since
the driver loaded, Volta or newer), and what NVML says about the GPU (name, driver, power limit, clocks).
"""

from __future__ import annotations

import torch

UPDATE_PERIOD_S = 0.1  # NVML's energy counter refreshes about every 100 ms


def cuda_uuid(index: int) -> str | None:
    """NVML's name ("GPU-<uuid>") of CUDA device ``index``, or None without CUDA."""
    if not torch.cuda.is_available():
        return None
    return f"GPU-{torch.cuda.get_device_properties(index).uuid}"


def nvml_handle(pynvml, index: int):
    """NVML's handle of CUDA device ``index``: under CUDA_VISIBLE_DEVICES (Slurm sets it) CUDA's index is
    not NVML's, so the device is matched by UUID."""
    uuid = cuda_uuid(index)
    return pynvml.nvmlDeviceGetHandleByUUID(uuid) if uuid else pynvml.nvmlDeviceGetHandleByIndex(index)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def power_limit_watts(pynvml, handle) -> float | None:
    try:
        return pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0  # milliwatts
    except Exception:  # not supported on this GPU or driver
        return None


class NvmlMeter:
    method = "measured"
    backend = "nvml"
    update_period_s = UPDATE_PERIOD_S

    def __init__(self, index: int):
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = nvml_handle(pynvml, index)
        self.domains = [f"nvidia_gpu_{index}"]
        self.power_limit_watts = power_limit_watts(pynvml, self._handle)
        self.read()  # raises on GPUs without an energy counter

    def read(self) -> float:
        # A 64-bit counter: it does not wrap; a driver reload resets it (a negative delta, flagged).
        return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0


def gpu_context(index: int) -> dict:
    """What NVML reports about CUDA device ``index``; each field None where this GPU or driver cannot say."""
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = nvml_handle(pynvml, index)
    except Exception as err:  # no pynvml or no driver: say so rather than guess
        return {"nvml": f"unavailable ({type(err).__name__}: {err})"}

    def ask(call):
        try:
            return call()
        except Exception:  # not supported on this GPU or driver
            return None

    sm, mem = getattr(pynvml, "NVML_CLOCK_SM", 1), getattr(pynvml, "NVML_CLOCK_MEM", 2)
    return {
        "name": ask(lambda: _text(pynvml.nvmlDeviceGetName(handle))),
        "driver": ask(lambda: _text(pynvml.nvmlSystemGetDriverVersion())),
        "power_limit_watts": power_limit_watts(pynvml, handle),
        "default_power_limit_watts": ask(lambda: pynvml.nvmlDeviceGetPowerManagementDefaultLimit(handle) / 1000.0),
        "sm_clock_mhz": ask(lambda: pynvml.nvmlDeviceGetClockInfo(handle, sm)),
        "sm_clock_max_mhz": ask(lambda: pynvml.nvmlDeviceGetMaxClockInfo(handle, sm)),
        "memory_clock_mhz": ask(lambda: pynvml.nvmlDeviceGetClockInfo(handle, mem)),
        "memory_clock_max_mhz": ask(lambda: pynvml.nvmlDeviceGetMaxClockInfo(handle, mem)),
        "memory_total_bytes": ask(lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).total),
    }
