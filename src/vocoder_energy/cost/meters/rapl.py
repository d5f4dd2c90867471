"""CPU package energy from Linux powercap RAPL counters (``energy_uj``, microjoules), wrap-around aware.

Counters are per socket (every process on it counts), refresh about every millisecond, wrap at
``max_energy_range_uj``, and are readable only by root since Linux 5.10.
"""

from __future__ import annotations

from pathlib import Path

POWERCAP = Path("/sys/class/powercap")
UPDATE_PERIOD_S = 0.001  # RAPL's energy status refreshes about every millisecond


def package_zones(root: str | Path = POWERCAP) -> list[Path]:
    """The package zones (``intel-rapl:N``), not their core/uncore/dram sub-zones (``intel-rapl:N:M``)."""
    zones = sorted(Path(root).glob("intel-rapl:[0-9]*"))
    return [z for z in zones if z.name.count(":") == 1]


def zone_power_limit_watts(zone: Path) -> float | None:
    """The highest power limit a zone's constraints allow (long- or short-term), or None if unreadable."""
    limits = []
    for path in zone.glob("constraint_*_power_limit_uw"):
        try:
            limits.append(int(path.read_text()) / 1e6)
        except (OSError, ValueError):
            continue
    return max(limits) if limits else None


def powercap_limit_watts(zones: list[Path]) -> float | None:
    """Sum over packages of their highest limit; None if any package's limit is unknown."""
    limits = [zone_power_limit_watts(z) for z in zones]
    return None if not limits or None in limits else sum(limits)


class WrappingCounter:
    """Cumulative joules from a raw counter that wraps at ``max_raw`` (None: never wraps)."""

    def __init__(self, raw: float, joules_per_unit: float, max_raw: float | None):
        self._last, self._scale, self._range = raw, joules_per_unit, max_raw
        self.joules = 0.0

    def update(self, raw: float) -> float:
        delta = raw - self._last
        if delta < 0 and self._range:  # the counter wrapped (without a range: left negative, and flagged)
            delta += self._range
        self.joules += delta * self._scale
        self._last = raw
        return self.joules


class RaplMeter:
    method = "measured"
    backend = "rapl"
    update_period_s = UPDATE_PERIOD_S

    def __init__(self, root: str | Path = POWERCAP):
        zones = package_zones(root)
        if not zones:
            raise FileNotFoundError(f"{root}: no RAPL package zones")
        self._zones = zones
        self.domains = [(z / "name").read_text().strip() if (z / "name").exists() else z.name for z in zones]
        self._counters = [
            WrappingCounter(self._raw(z), 1e-6, int((z / "max_energy_range_uj").read_text())) for z in zones
        ]
        self.power_limit_watts = powercap_limit_watts(zones)

    @staticmethod
    def _raw(zone: Path) -> int:
        return int((zone / "energy_uj").read_text())

    def read(self) -> float:
        return sum(c.update(self._raw(z)) for z, c in zip(self._zones, self._counters))
