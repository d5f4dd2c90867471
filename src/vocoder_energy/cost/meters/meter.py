"""What every energy meter offers, and the error for one that cannot be used on this machine.

A meter has ``read() -> float`` (cumulative joules since it was made), ``method`` (``"measured"`` or
``"estimated"``), ``backend`` (``nvml``, ``rapl``, ``pyjoules``, ``estimated``), ``domains`` (what it
sums, e.g. ``["nvidia_gpu_0"]``), ``update_period_s`` (how often its counter refreshes: a shorter window
cannot be trusted) and ``power_limit_watts`` (the device's limit where it can be read, else None).
"""

from __future__ import annotations

BACKENDS = ("nvml", "rapl", "pyjoules", "estimated")
CHOICES = ("auto", *BACKENDS)


class MeterUnavailable(RuntimeError):
    """A requested energy meter cannot read this machine's counters (the message says why and what to do)."""
