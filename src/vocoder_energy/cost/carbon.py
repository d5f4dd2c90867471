"""Energy to carbon: one conversion shared by training and inference figures."""

from __future__ import annotations

JOULES_PER_KWH = 3.6e6


def kwh(joules: float) -> float:
    return joules / JOULES_PER_KWH


def kg_co2eq(joules: float, intensity_kg_per_kwh: float) -> float:
    """Emissions of ``joules`` of electricity at a grid intensity in kgCO2eq/kWh."""
    return kwh(joules) * intensity_kg_per_kwh
