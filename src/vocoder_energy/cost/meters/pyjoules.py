"""The paper's tool, pyJoules 0.5.1, as a meter: its device layer reads the counters, we fix what it gets wrong.

pyJoules reads NVML's counter in millijoules and RAPL's in microjoules and returns both unconverted
(upstream issue #23, fixed but never released); it has no RAPL wrap-around handling, and with no device
its ``EnergyMeter``/``EnergyContext`` crash with ``TypeError: reduce() of empty iterable``. So this
meter asks pyJoules' ``DeviceFactory`` for the domains of one device, reads them with
``Device.get_energy()``, converts each domain to joules and unwraps RAPL; a machine without the domain
raises ``MeterUnavailable`` with the reason. CUDA is synchronised at window edges by the protocol.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vocoder_energy.cost.meters import nvml, rapl
from vocoder_energy.cost.meters.meter import MeterUnavailable
from vocoder_energy.cost.meters.rapl import WrappingCounter

INSTALL = "pip install pyJoules==0.5.1 (without the [nvidia] extra; it uses nvidia-ml-py's pynvml)"


def _nvml_index(cuda_index: int) -> int:
    """NVML's index of CUDA device ``cuda_index`` (pyJoules opens GPUs by NVML index)."""
    import pynvml

    pynvml.nvmlInit()
    return pynvml.nvmlDeviceGetIndex(nvml.nvml_handle(pynvml, cuda_index))


class PyJoulesMeter:
    method = "measured"
    backend = "pyjoules"

    def __init__(self, device: torch.device):
        try:
            from pyJoules.device import DeviceFactory, rapl_device
        except ImportError as err:
            raise MeterUnavailable(
                f"measurement.meter: pyjoules: pyJoules is not importable ({err}); {INSTALL}"
            ) from err
        try:
            if device.type == "cuda":
                domains, self._rapl_dir = self._gpu_domains(device.index or 0), None
            else:
                self._rapl_dir = Path(rapl_device.RAPL_API_DIR)
                domains = rapl_device.RaplDevice.available_package_domains()
            if not domains:
                raise MeterUnavailable(f"pyJoules found no energy domain for {device} (looked in {self._rapl_dir})")
            self._devices = DeviceFactory.create_devices(domains)
            self._domains = [d for dev in self._devices for d in dev.get_configured_domains()]
            self._counters = [
                WrappingCounter(raw, *self._unit_and_range(d)) for d, raw in zip(self._domains, self._raw())
            ]
        except MeterUnavailable as err:
            raise MeterUnavailable(f"measurement.meter: pyjoules: {err}") from err
        except Exception as err:  # PyJoulesException, NVMLError, OSError...: one clear error instead
            raise MeterUnavailable(
                f"measurement.meter: pyjoules: pyJoules cannot read {device} here ({type(err).__name__}: {err})"
            ) from err
        self.domains = [str(d) for d in self._domains]  # pyJoules' own names: nvidia_gpu_0, package_0
        gpu = device.type == "cuda"
        self.update_period_s = nvml.UPDATE_PERIOD_S if gpu else rapl.UPDATE_PERIOD_S
        self.power_limit_watts = self._power_limit(device) if gpu else rapl.powercap_limit_watts(self._zones())

    @staticmethod
    def _gpu_domains(cuda_index: int) -> list:
        from pyJoules.device.nvidia_device import NvidiaGPUDevice

        index = _nvml_index(cuda_index)
        return [d for d in NvidiaGPUDevice.available_domains() if d.device_id == index]

    def _zones(self) -> list[Path]:
        return [self._rapl_dir / f"intel-rapl:{d.socket}" for d in self._domains]

    def _unit_and_range(self, domain) -> tuple[float, float | None]:
        if hasattr(domain, "socket"):  # a RAPL domain: microjoules, wrapping at the zone's range
            zone = self._rapl_dir / f"intel-rapl:{domain.socket}"
            return 1e-6, float((zone / "max_energy_range_uj").read_text())
        return 1e-3, None  # NVIDIA: NVML's millijoules, a 64-bit counter

    @staticmethod
    def _power_limit(device: torch.device) -> float | None:
        import pynvml

        return nvml.power_limit_watts(pynvml, nvml.nvml_handle(pynvml, device.index or 0))

    def _raw(self) -> list[float]:
        return [value for dev in self._devices for value in dev.get_energy()]

    def read(self) -> float:
        return sum(c.update(raw) for c, raw in zip(self._counters, self._raw()))
