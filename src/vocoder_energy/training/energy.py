"""Energy of a training run, accumulated across restarts (the checkpoint carries the running total).

Read through the project's meter layer (NVML on a GPU, RAPL on a CPU where readable); where nothing
can be read it is ``estimated`` as wall time x ``assumed_watts`` and labelled so. A run whose segments
were metered differently (a restart on another machine) is labelled with both methods.
"""

from __future__ import annotations

import time

from vocoder_energy.cost import carbon
from vocoder_energy.cost.meters.estimated import EstimatedMeter


class TrainingEnergy:
    """Joules since the run began; ``update()`` adds what the meter (or the clock) saw since the last call."""

    def __init__(
        self,
        meter,
        assumed_watts: float,
        state: dict | None = None,
        clock=time.monotonic,
    ):
        self.assumed_watts = assumed_watts
        # No counter: the one estimated-energy rule (wall time x assumed watts), the cost stage's meter.
        self.meter = meter or EstimatedMeter(assumed_watts, reason="no readable energy counter", clock=clock)
        state = state or {}
        self.joules = float(state.get("joules", 0.0))
        self.methods = set(state.get("methods", [])) | {self.meter.method}
        self.domains = set(state.get("domains", [])) | set(self.meter.domains)
        self._last_reading = self.meter.read()

    def update(self) -> float:
        reading = self.meter.read()
        self.joules += reading - self._last_reading
        self._last_reading = reading
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
