"""Power (and temperature, where the device reports one) sampled at a fixed rate by a background thread
during every measured window, saved per window, with the sampler's own cost measured: the CPU time its
thread used over the time it ran.

Power comes from the GPU's instantaneous reading through NVML, else from the differences of a counter
(RAPL) read by a meter of the sampler's own (a counter's wrap state is not shared across threads), else
it is the estimate's assumed watts, labelled as such.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from vocoder_energy.cost.meters import select_meter
from vocoder_energy.cost.meters.nvml import nvml_handle

THERMAL = Path("/sys/class/thermal")
CPU_SENSORS = ("x86_pkg_temp", "k10temp", "coretemp", "cpu-thermal", "cpu_thermal", "acpitz")


def cpu_temperature_reader(root: str | Path = THERMAL) -> Callable[[], float | None] | None:
    """A reader of the CPU's temperature (degrees C) from the first known thermal zone, or None."""
    zones = {}
    for zone in sorted(Path(root).glob("thermal_zone*")):
        try:
            zones[(zone / "type").read_text().strip()] = zone / "temp"
        except OSError:
            continue
    for name in CPU_SENSORS:
        if name in zones:
            path = zones[name]

            def read(path: Path = path) -> float | None:
                try:
                    return int(path.read_text()) / 1000.0  # millidegrees
                except (OSError, ValueError):
                    return None

            return read if read() is not None else None
    return None


class CounterPower:
    """Watts between consecutive reads of an energy counter (None on the first read)."""

    def __init__(self, meter):
        self.meter = meter
        self._last: tuple[float, float] | None = None

    def __call__(self) -> float | None:
        now, joules = time.perf_counter(), self.meter.read()
        last, self._last = self._last, (now, joules)
        if last is None or now <= last[0]:
            return None
        return (joules - last[1]) / (now - last[0])


def trace_sources(meter_choice: str, device: torch.device, assumed_watts: float) -> dict:
    """``{"source", "power", "temperature", "temperature_source"}`` for ``TraceSampler``."""
    meter = select_meter(meter_choice, device, assumed_watts)  # the sampler's own instance
    temperature, temperature_source = None, "unavailable on this device"
    if meter.backend == "nvml":
        import pynvml

        handle = nvml_handle(pynvml, device.index or 0)
        sensor = getattr(pynvml, "NVML_TEMPERATURE_GPU", 0)

        def power() -> float | None:
            return pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0  # milliwatts, instantaneous

        def temperature() -> float | None:
            return float(pynvml.nvmlDeviceGetTemperature(handle, sensor))

        return {"source": "nvml power usage", "power": power, "temperature": temperature, "temperature_source": "nvml"}
    if device.type == "cpu" and (reader := cpu_temperature_reader()) is not None:
        temperature, temperature_source = reader, "linux thermal zone"
    if meter.method != "measured":
        watts = meter.assumed_watts
        return {
            "source": f"estimated ({watts:g} W assumed: no counter to sample)",
            "power": lambda: watts,
            "temperature": temperature,
            "temperature_source": temperature_source,
        }
    return {
        "source": f"{meter.backend} counter differences",
        "power": CounterPower(meter),
        "temperature": temperature,
        "temperature_source": temperature_source,
    }


class TraceSampler:
    """Samples ``power()`` and ``temperature()`` every ``1 / hz`` s in a thread while a window is open."""

    def __init__(self, power, temperature=None, hz: float = 10.0, source: str = "", temperature_source: str = ""):
        if hz <= 0:
            raise ValueError(f"measurement.trace_hz: {hz!r} must be positive")
        self.power, self.temperature, self.hz = power, temperature, hz
        self.source, self.temperature_source = source, temperature_source
        self.windows: list[dict] = []
        self._cpu_seconds = 0.0
        self._wall_seconds = 0.0

    @classmethod
    def for_device(cls, meter_choice: str, device: torch.device, assumed_watts: float, hz: float):
        return cls(hz=hz, **trace_sources(meter_choice, device, assumed_watts))

    def _run(self, record: dict, stop: threading.Event) -> None:
        cpu0, start = time.thread_time(), time.perf_counter()
        period, tick = 1.0 / self.hz, 0
        while not stop.is_set():
            record["t"].append(time.perf_counter() - start)
            record["watts"].append(self.power())
            record["celsius"].append(self.temperature() if self.temperature else None)
            tick += 1
            stop.wait(max(0.0, start + tick * period - time.perf_counter()))
        self._cpu_seconds += time.thread_time() - cpu0
        self._wall_seconds += time.perf_counter() - start

    @contextmanager
    def window(self, phase: str, index: int) -> Iterator[dict]:
        record = {"phase": phase, "window": index, "t": [], "watts": [], "celsius": []}
        stop = threading.Event()
        thread = threading.Thread(target=self._run, args=(record, stop), name="power-trace", daemon=True)
        thread.start()
        try:
            yield record
        finally:
            stop.set()
            thread.join()
            self.windows.append(record)

    def document(self) -> dict:
        """What the cost JSON keeps: every window's samples, the rate, the sources and the sampler's cost."""
        return {
            "hz": self.hz,
            "power_source": self.source,
            "temperature_source": self.temperature_source,
            "samples": sum(len(w["t"]) for w in self.windows),
            "sampler_cpu_seconds": self._cpu_seconds,
            "sampler_wall_seconds": self._wall_seconds,
            # The sampler's own cost: the share of one core its thread kept busy while windows ran.
            "sampler_cpu_share": self._cpu_seconds / self._wall_seconds if self._wall_seconds > 0 else None,
            "windows": self.windows,
        }
