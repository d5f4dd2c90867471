"""Inference energy: a small meter layer over NVML (GPU) and RAPL (CPU package), with an honest fallback.

Where no counter can be read, energy is ``estimated`` as wall time x an assumed power and labelled so;
it is never reported as measured.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm


class NvmlMeter:
    """Cumulative GPU energy from NVML (``nvmlDeviceGetTotalEnergyConsumption``, millijoules, Volta+)."""

    method = "measured"

    def __init__(self, index: int):
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        # CUDA's index is not NVML's under CUDA_VISIBLE_DEVICES (Slurm sets it): match by UUID.
        uuid = cuda_uuid(index)
        self._handle = pynvml.nvmlDeviceGetHandleByUUID(uuid) if uuid else pynvml.nvmlDeviceGetHandleByIndex(index)
        self.domains = [f"nvidia_gpu_{index}"]
        self.read()  # raises on GPUs without an energy counter

    def read(self) -> float:
        return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0


def cuda_uuid(index: int) -> str | None:
    """NVML's name ("GPU-<uuid>") of CUDA device ``index``, or None without CUDA."""
    if not torch.cuda.is_available():
        return None
    return f"GPU-{torch.cuda.get_device_properties(index).uuid}"


class RaplMeter:
    """Cumulative CPU package energy from Linux powercap (``energy_uj``, microjoules), wrap-around aware."""

    method = "measured"

    def __init__(self, root: str | Path = "/sys/class/powercap"):
        zones = sorted(Path(root).glob("intel-rapl:[0-9]*"))
        zones = [z for z in zones if z.name.count(":") == 1]  # packages, not their sub-zones
        if not zones:
            raise FileNotFoundError(f"{root}: no RAPL package zones")
        self._zones = zones
        self._ranges = [int((z / "max_energy_range_uj").read_text()) for z in zones]
        self.domains = [(z / "name").read_text().strip() if (z / "name").exists() else z.name for z in zones]
        self._last = [self._raw(z) for z in zones]
        self._total = 0.0

    @staticmethod
    def _raw(zone: Path) -> int:
        return int((zone / "energy_uj").read_text())

    def read(self) -> float:
        for i, zone in enumerate(self._zones):
            now = self._raw(zone)
            delta = now - self._last[i]
            if delta < 0:  # the counter wrapped
                delta += self._ranges[i]
            self._total += delta / 1e6
            self._last[i] = now
        return self._total


def find_meter(device: torch.device, powercap_root: str | Path = "/sys/class/powercap"):
    """The meter that can see ``device``'s energy, or None where nothing can be read."""
    if device.type == "cuda":
        try:
            return NvmlMeter(device.index or 0)
        except Exception:  # no pynvml, no driver, or a GPU without an energy counter
            return None
    try:
        return RaplMeter(powercap_root)
    except (OSError, ValueError):  # absent, or unreadable without root since Linux 5.10
        return None


def _t_interval(values: list[float]) -> float:
    if len(values) < 2:
        return float("nan")
    from scipy.stats import t

    return float(t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5)


def measure_workload(
    workload: Callable[[], object],
    device: torch.device,
    meter=None,
    windows: int = 10,
    min_window_seconds: float = 5.0,
    warmup: int = 1,
    assumed_watts: float = 300.0,
) -> dict:
    """Energy and time of one ``workload`` call: warm up, then ``windows`` windows of repeated calls.

    Each window repeats the workload until it lasts ``min_window_seconds`` (energy counters update
    slowly), and reports per-workload energy = window energy / repeats.
    """

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        workload()
    sync()
    joules, seconds, repeats = [], [], []
    for _ in tqdm(range(windows), desc=f"measure ({meter.method if meter else 'estimated'})", unit=" windows"):
        sync()
        energy0, time0, count = meter.read() if meter else 0.0, time.perf_counter(), 0
        while True:
            workload()
            count += 1
            sync()
            if time.perf_counter() - time0 >= min_window_seconds:
                break
        elapsed = time.perf_counter() - time0
        energy = (meter.read() - energy0) if meter else elapsed * assumed_watts
        joules.append(energy / count)
        seconds.append(elapsed / count)
        repeats.append(count)
    result = {
        "method": meter.method if meter else "estimated",
        "domains": meter.domains if meter else [],
        "assumed_watts": None if meter else assumed_watts,
        "joules_per_workload": statistics.fmean(joules),
        "joules_per_workload_ci95": _t_interval(joules),
        "seconds_per_workload": statistics.fmean(seconds),
        "seconds_per_workload_ci95": _t_interval(seconds),
        "windows": windows,
        "repeats_per_window": repeats,
        "average_watts": statistics.fmean(joules) / statistics.fmean(seconds),
    }
    if meter and min(joules) <= 0:
        result["warning"] = "non-positive energy in a window: windows too short for the counter"
    return result
