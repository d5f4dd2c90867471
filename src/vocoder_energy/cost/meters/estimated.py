"""The fallback where no counter can be read: energy = wall time x an assumed power, labelled ``estimated``.

This is the ML CO2 Impact Calculator method the paper used for training (300 W x 120 h). It is never a
measurement, so nothing built on it (idle baseline, net energy) is reported as measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class EstimatedMeter:
    method = "estimated"
    backend = "estimated"
    domains: list[str] = []
    update_period_s = 0.0  # a clock, not a counter: no window is too short for it
    power_limit_watts = None

    def __init__(self, assumed_watts: float, reason: str, clock: Callable[[], float] = time.perf_counter):
        if assumed_watts <= 0:
            raise ValueError(f"measurement.assumed_watts must be positive, got {assumed_watts}")
        self.assumed_watts = assumed_watts  # as configured (10 stays 10 in the summary)
        self.reason = reason  # why nothing could be measured, for the result
        self.domains = []
        self._clock = clock
        self._start = clock()

    def read(self) -> float:
        return self.joules_at(self._clock())

    def joules_at(self, clock_time: float) -> float:
        """The estimate at a time the caller read from the same clock (window edges then agree exactly)."""
        return (clock_time - self._start) * self.assumed_watts
