import pytest

from vocoder_energy.cost.carbon import kg_co2eq, kwh


def test_the_papers_training_estimate():
    # The paper: 300 W x 120 h = 36 kWh per model; 2160 GPU-hours at 0.7 kgCO2eq/kWh = 453.6 kg.
    assert kwh(300 * 120 * 3600) == pytest.approx(36.0)
    assert kg_co2eq(300 * 2160 * 3600, 0.7) == pytest.approx(453.6)
