"""Energy of a training run, accumulated across restarts (the checkpoint carries the running total).

Read through the project's meter layer (NVML on a GPU, RAPL on a CPU where readable); where nothing
can be read it is ``estimated`` as wall time x ``assumed_watts`` and labelled so. A run whose segments
were metered differently (a restart on another machine) is labelled with both methods.
"""

from __future__ import annotations

import time

from vocoder_energy.cost import carbon


class TrainingEnergy:
    """Joules since the run began; ``update()`` adds what the meter (or the clock) saw since the last call."""

    def __init__(
        self,
        meter,
        assumed_watts: float,
        state: dict | None = None,
        clock=time.monotonic,
    ):
        self.meter, self.assumed_watts, self.clock = meter, assumed_watts, clock
        state = state or {}
        self.joules = float(state.get("joules", 0.0))
        self.methods = set(state.get("methods", []))
        self.domains = set(state.get("domains", []))
        self.methods.add(meter.method if meter else "estimated")
        self.domains.update(meter.domains if meter else [])
        self._last_reading = meter.read() if meter else None
        self._last_time = clock()

    def update(self) -> float:
        now = self.clock()
        if self.meter:
            reading = self.meter.read()
            self.joules += reading - self._last_reading
            self._last_reading = reading
        else:
            self.joules += (now - self._last_time) * self.assumed_watts
        self._last_time = now
        return self.joules

    def state(self) -> dict:
        """Plain values for the checkpoint."""
        return {
            "joules": self.joules,
            "methods": sorted(self.methods),
            "domains": sorted(self.domains),
        }

    def report(self, intensity_kg_per_kwh: float) -> dict:
        return {
            "joules": self.joules,
            "kwh": carbon.kwh(self.joules),
            "kg_co2eq": carbon.kg_co2eq(self.joules, intensity_kg_per_kwh),
            "carbon_intensity_kg_per_kwh": intensity_kg_per_kwh,
            "method": "+".join(sorted(self.methods)),
            "domains": sorted(self.domains),
            "assumed_watts": (self.assumed_watts if "estimated" in self.methods else None),
        }
