"""Energy meters on fake counters: a powercap tree in tmp_path, an injected pynvml, pyJoules over both."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch

from vocoder_energy.cost.meters import (
    EstimatedMeter,
    MeterUnavailable,
    NvmlMeter,
    PyJoulesMeter,
    RaplMeter,
    find_meter,
    nvml,
    select_meter,
)

CPU = torch.device("cpu")


# ------------------------------------------------------------------------------------------- RAPL
def make_zone(root: Path, name: str, label: str | None, energy_uj: int, max_range_uj: int = 262_143_328_850) -> Path:
    """A powercap zone as the kernel lays it out: the real directory under intel-rapl/ (nested for
    sub-zones), and a flat link in the class directory (what /sys/class/powercap lists)."""
    parts = name.split(":")
    real = root / "intel-rapl" / ":".join(parts[:2])
    if len(parts) == 3:
        real = real / name
    real.mkdir(parents=True)
    (real / "energy_uj").write_text(f"{energy_uj}\n")
    (real / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
    if label is not None:
        (real / "name").write_text(f"{label}\n")
    (root / name).symlink_to(real, target_is_directory=True)
    return real


def set_energy(zone: Path, energy_uj: int) -> None:
    (zone / "energy_uj").write_text(f"{energy_uj}\n")


@pytest.fixture
def powercap(tmp_path):
    """One package zone and its core sub-zone."""
    root = tmp_path / "powercap"
    package = make_zone(root, "intel-rapl:0", "package-0", 1_000_000, max_range_uj=10_000_000)
    core = make_zone(root, "intel-rapl:0:0", "core", 500_000, max_range_uj=10_000_000)
    return root, package, core


def test_rapl_reads_joules_since_construction(powercap):
    root, package, _ = powercap
    meter = RaplMeter(root)
    assert (meter.method, meter.backend) == ("measured", "rapl")
    assert meter.read() == pytest.approx(0.0)
    set_energy(package, 3_500_000)
    assert meter.read() == pytest.approx(2.5)  # 2,500,000 uJ
    set_energy(package, 3_750_000)
    assert meter.read() == pytest.approx(2.75)  # cumulative


def test_rapl_ignores_sub_zones(powercap):
    root, package, core = powercap
    meter = RaplMeter(root)
    assert meter.domains == ["package-0"]
    set_energy(core, 9_000_000)  # core is inside the package: counting it would double-count
    assert meter.read() == pytest.approx(0.0)
    set_energy(package, 2_000_000)
    assert meter.read() == pytest.approx(1.0)


def test_rapl_handles_wrap_around(powercap):
    root, package, _ = powercap
    set_energy(package, 9_000_000)
    meter = RaplMeter(root)
    set_energy(package, 500_000)  # wrapped at 10,000,000 uJ
    assert meter.read() == pytest.approx(1.5)
    set_energy(package, 2_500_000)  # and counts on normally after the wrap
    assert meter.read() == pytest.approx(3.5)


def test_rapl_sums_packages_each_with_its_own_range(tmp_path):
    root = tmp_path / "powercap"
    zero = make_zone(root, "intel-rapl:0", "package-0", 100, max_range_uj=1_000_000)
    one = make_zone(root, "intel-rapl:1", None, 900_000, max_range_uj=2_000_000)  # no name file: zone name
    make_zone(root, "intel-rapl:1:0", "dram", 0)
    meter = RaplMeter(root)
    assert meter.domains == ["package-0", "intel-rapl:1"]
    set_energy(zero, 200_100)  # +0.2 J
    set_energy(one, 100_000)  # wrapped: +1.2 J at range 2,000,000
    assert meter.read() == pytest.approx(1.4)


def test_rapl_power_limit_is_the_highest_constraint_summed_over_packages(tmp_path):
    root = tmp_path / "powercap"
    zero = make_zone(root, "intel-rapl:0", "package-0", 0)
    one = make_zone(root, "intel-rapl:1", "package-1", 0)
    assert RaplMeter(root).power_limit_watts is None  # not readable: no flag can be raised against it
    (zero / "constraint_0_power_limit_uw").write_text("65000000\n")  # long term 65 W
    (zero / "constraint_1_power_limit_uw").write_text("90000000\n")  # short term 90 W
    (one / "constraint_0_power_limit_uw").write_text("65000000\n")
    assert RaplMeter(root).power_limit_watts == pytest.approx(155.0)


def test_rapl_without_zones_raises(tmp_path):
    (tmp_path / "intel-rapl").mkdir()
    with pytest.raises(FileNotFoundError):
        RaplMeter(tmp_path)


def test_find_meter_cpu_returns_rapl_for_a_readable_tree(powercap):
    root, package, _ = powercap
    meter = find_meter(CPU, root)
    assert isinstance(meter, RaplMeter)
    set_energy(package, 1_250_000)
    assert meter.read() == pytest.approx(0.25)


def test_find_meter_cpu_returns_none_for_a_missing_tree(tmp_path):
    assert find_meter(CPU, tmp_path / "no-such-powercap") is None
    assert find_meter(CPU, tmp_path) is None  # exists, but holds no zones


def test_find_meter_cpu_returns_none_for_an_unreadable_counter(tmp_path):
    root = tmp_path / "powercap"
    zone = make_zone(root, "intel-rapl:0", "package-0", 0)
    (zone / "energy_uj").unlink()
    (zone / "energy_uj").mkdir()  # reading it raises an OSError, as an unreadable file does for non-root
    assert find_meter(CPU, root) is None
    (zone / "energy_uj").rmdir()
    (zone / "energy_uj").write_text("not a number\n")
    assert find_meter(CPU, root) is None


# ------------------------------------------------------------------------------------------- NVML
class FakeNvml:
    """The part of pynvml the meters use: energy in millijoules and limits in milliwatts per NVML index."""

    def __init__(self, millijoules: dict[int, int], fail: bool = False):
        self.millijoules = millijoules
        self.limits_mw = {i: 300_000 for i in millijoules}
        self.fail = fail
        self.initialised = 0
        m = self.module = types.ModuleType("pynvml")
        m.NVMLError = type("NVMLError", (Exception,), {})
        m.NVML_CLOCK_SM, m.NVML_CLOCK_MEM = 1, 2
        m.nvmlInit = self.init
        m.nvmlDeviceGetCount = lambda: len(self.millijoules)
        m.nvmlDeviceGetHandleByIndex = self.handle
        m.nvmlDeviceGetHandleByUUID = lambda uuid: self.handle({"GPU-b": 1}[uuid])
        m.nvmlDeviceGetIndex = lambda handle: handle[1]
        m.nvmlDeviceGetTotalEnergyConsumption = self.energy
        m.nvmlDeviceGetEnforcedPowerLimit = lambda handle: self.limits_mw[handle[1]]
        m.nvmlDeviceGetPowerManagementDefaultLimit = lambda handle: 350_000
        m.nvmlDeviceGetName = lambda handle: b"NVIDIA RTX A5000"  # old bindings return bytes
        m.nvmlSystemGetDriverVersion = lambda: "550.54.15"
        m.nvmlDeviceGetClockInfo = lambda handle, clock: {1: 1695, 2: 8001}[clock]
        m.nvmlDeviceGetMaxClockInfo = lambda handle, clock: {1: 2100, 2: 8001}[clock]

        def no_memory_info(handle):
            raise m.NVMLError("NVML_ERROR_NOT_SUPPORTED")

        m.nvmlDeviceGetMemoryInfo = no_memory_info

    def init(self) -> None:
        if self.fail == "init":
            raise self.module.NVMLError("NVML_ERROR_DRIVER_NOT_LOADED")
        self.initialised += 1

    def handle(self, index: int):
        if index not in self.millijoules:
            raise self.module.NVMLError("NVML_ERROR_INVALID_ARGUMENT")
        return ("handle", index)

    def energy(self, handle) -> int:
        if self.fail:
            raise self.module.NVMLError("NVML_ERROR_NOT_SUPPORTED")
        tag, index = handle
        assert tag == "handle"
        return self.millijoules[index]


@pytest.fixture
def fake_nvml(monkeypatch):
    fake = FakeNvml({0: 1_000, 1: 123_456})
    monkeypatch.setitem(sys.modules, "pynvml", fake.module)
    return fake


def test_nvml_meter_converts_millijoules_to_joules(fake_nvml):
    meter = NvmlMeter(1)
    assert fake_nvml.initialised == 1
    assert (meter.method, meter.backend, meter.update_period_s) == ("measured", "nvml", 0.1)
    assert meter.domains == ["nvidia_gpu_1"]
    assert meter.power_limit_watts == pytest.approx(300.0)  # NVML reports milliwatts
    assert meter.read() == pytest.approx(123.456)
    fake_nvml.millijoules[1] += 2_500
    assert meter.read() == pytest.approx(125.956)
    assert NvmlMeter(0).read() == pytest.approx(1.0)


def test_find_meter_cuda_uses_nvml_for_the_device_index(fake_nvml):
    meter = find_meter(torch.device("cuda", 1))
    assert isinstance(meter, NvmlMeter)
    assert meter.domains == ["nvidia_gpu_1"]
    assert meter.read() == pytest.approx(123.456)
    assert find_meter(torch.device("cuda")).domains == ["nvidia_gpu_0"]  # no index: device 0


def test_nvml_meter_finds_the_gpu_by_uuid_when_cuda_names_it(fake_nvml, monkeypatch):
    # Under CUDA_VISIBLE_DEVICES=1, CUDA's device 0 is NVML's device 1.
    monkeypatch.setattr(nvml, "cuda_uuid", lambda index: {0: "GPU-b"}[index])
    assert NvmlMeter(0).read() == pytest.approx(123.456)


def test_find_meter_cuda_returns_none_without_an_energy_counter(monkeypatch):
    fake = FakeNvml({0: 0}, fail=True)
    monkeypatch.setitem(sys.modules, "pynvml", fake.module)
    assert find_meter(torch.device("cuda", 0)) is None


def test_find_meter_cuda_returns_none_without_pynvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    assert find_meter(torch.device("cuda", 0)) is None


def test_gpu_context_reports_what_nvml_knows_and_none_for_the_rest(fake_nvml):
    context = nvml.gpu_context(1)
    assert context["name"] == "NVIDIA RTX A5000"
    assert context["driver"] == "550.54.15"
    assert context["power_limit_watts"] == pytest.approx(300.0)
    assert context["default_power_limit_watts"] == pytest.approx(350.0)
    assert (context["sm_clock_mhz"], context["sm_clock_max_mhz"]) == (1695, 2100)
    assert (context["memory_clock_mhz"], context["memory_clock_max_mhz"]) == (8001, 8001)
    assert context["memory_total_bytes"] is None  # not supported: None, not a guess


def test_gpu_context_without_a_driver_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml({0: 0}, fail="init").module)
    assert nvml.gpu_context(0)["nvml"].startswith("unavailable (NVMLError")


# ---------------------------------------------------------------------------------------- pyJoules
@pytest.fixture
def pyjoules_nvml(fake_nvml, monkeypatch):
    """pyJoules' NVIDIA device bound to the fake pynvml (it imported the real module at import time)."""
    from pyJoules.device import nvidia_device

    monkeypatch.setattr(nvidia_device, "pynvml", fake_nvml.module)
    return fake_nvml


@pytest.fixture
def pyjoules_rapl(powercap, monkeypatch):
    """pyJoules' RAPL device pointed at the fake powercap tree (it hard-codes the sysfs path)."""
    from pyJoules.device import rapl_device

    root, package, core = powercap
    monkeypatch.setattr(rapl_device, "RAPL_API_DIR", str(root / "intel-rapl"))
    return root, package


def test_pyjoules_gpu_domain_millijoules_become_joules(pyjoules_nvml):
    meter = PyJoulesMeter(torch.device("cuda", 1))
    assert (meter.method, meter.backend, meter.update_period_s) == ("measured", "pyjoules", 0.1)
    assert meter.domains == ["nvidia_gpu_1"]  # pyJoules' own domain name
    assert meter.power_limit_watts == pytest.approx(300.0)
    assert meter.read() == pytest.approx(0.0)
    pyjoules_nvml.millijoules[1] += 2_500  # 2.5 J, which pyJoules alone would report as 2500
    assert meter.read() == pytest.approx(2.5)
    assert select_meter("pyjoules", torch.device("cuda", 1), 300.0).backend == "pyjoules"


def test_pyjoules_gpu_opens_the_nvml_index_of_the_cuda_device(pyjoules_nvml, monkeypatch):
    monkeypatch.setattr(nvml, "cuda_uuid", lambda index: {0: "GPU-b"}[index])  # CUDA 0 is NVML 1
    meter = PyJoulesMeter(torch.device("cuda", 0))
    assert meter.domains == ["nvidia_gpu_1"]
    pyjoules_nvml.millijoules[1] += 1_000
    assert meter.read() == pytest.approx(1.0)


def test_pyjoules_rapl_microjoules_become_joules_with_wrap_around(pyjoules_rapl):
    root, package = pyjoules_rapl
    set_energy(package, 9_000_000)
    meter = PyJoulesMeter(CPU)
    assert meter.domains == ["package_0"]
    assert meter.update_period_s == 0.001
    set_energy(package, 9_750_000)
    assert meter.read() == pytest.approx(0.75)  # pyJoules alone: 750000 (uJ)
    set_energy(package, 250_000)  # wrapped at 10,000,000 uJ, which pyJoules does not handle
    assert meter.read() == pytest.approx(1.25)


def test_pyjoules_and_our_rapl_meter_agree(pyjoules_rapl):
    root, package = pyjoules_rapl
    ours, theirs = RaplMeter(root), PyJoulesMeter(CPU)
    for energy_uj in (2_000_000, 7_500_000, 1_000):  # the last one wraps
        set_energy(package, energy_uj)
        assert theirs.read() == pytest.approx(ours.read())


def test_pyjoules_without_devices_is_a_clear_error_not_a_crash(tmp_path, monkeypatch):
    from pyJoules.device import rapl_device

    monkeypatch.setattr(rapl_device, "RAPL_API_DIR", str(tmp_path / "none" / "intel-rapl"))
    with pytest.raises(MeterUnavailable, match=r"measurement\.meter: pyjoules: pyJoules found no energy domain"):
        select_meter("pyjoules", CPU, 300.0)


def test_pyjoules_without_a_driver_is_a_clear_error(monkeypatch):
    from pyJoules.device import nvidia_device

    fake = FakeNvml({0: 0}, fail="init")
    monkeypatch.setitem(sys.modules, "pynvml", fake.module)
    monkeypatch.setattr(nvidia_device, "pynvml", fake.module)
    with pytest.raises(MeterUnavailable, match=r"pyjoules: .*NVMLError.*DRIVER_NOT_LOADED"):
        PyJoulesMeter(torch.device("cuda", 0))


def test_pyjoules_not_installed_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyJoules.device", None)
    with pytest.raises(MeterUnavailable, match=r"pip install pyJoules==0\.5\.1"):
        PyJoulesMeter(CPU)


# -------------------------------------------------------------------------------- choosing a meter
def test_auto_keeps_the_default_choice(powercap, fake_nvml):
    root, _, _ = powercap
    assert isinstance(select_meter("auto", CPU, 65.0, root), RaplMeter)
    assert isinstance(select_meter("auto", torch.device("cuda", 0), 65.0, root), NvmlMeter)
    assert isinstance(select_meter("rapl", CPU, 65.0, root), RaplMeter)
    assert isinstance(select_meter("nvml", torch.device("cuda", 1), 65.0, root), NvmlMeter)


def test_auto_with_an_unreadable_meter_is_estimated_with_its_assumptions(tmp_path, monkeypatch):
    meter = select_meter("auto", CPU, 65.0, tmp_path / "no-powercap")
    assert isinstance(meter, EstimatedMeter)
    assert (meter.method, meter.backend, meter.domains, meter.assumed_watts) == ("estimated", "estimated", [], 65.0)
    assert "no readable RAPL" in meter.reason and "no RAPL package zones" in meter.reason
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml({0: 0}, fail=True).module)
    meter = select_meter("auto", torch.device("cuda", 0), 300.0)
    assert meter.method == "estimated" and "NVML_ERROR_NOT_SUPPORTED" in meter.reason


def test_a_named_meter_that_cannot_read_is_an_error_not_an_estimate(tmp_path, monkeypatch):
    with pytest.raises(MeterUnavailable, match=r"measurement\.meter: rapl cannot read.*use auto"):
        select_meter("rapl", CPU, 65.0, tmp_path)
    with pytest.raises(MeterUnavailable, match=r"measurement\.meter: nvml .*not a CUDA device"):
        select_meter("nvml", CPU, 65.0, tmp_path)
    with pytest.raises(ValueError, match=r"measurement\.meter: 'zeus' is not one of"):
        select_meter("zeus", CPU, 65.0, tmp_path)


def test_estimated_meter_is_time_times_assumed_power():
    clock = iter([10.0, 12.5, 14.0])
    meter = EstimatedMeter(40.0, reason="chosen", clock=lambda: next(clock))
    assert meter.read() == pytest.approx(100.0)  # 2.5 s x 40 W
    assert meter.read() == pytest.approx(160.0)
    assert select_meter("estimated", CPU, 40.0).reason.startswith("measurement.meter: estimated")
    with pytest.raises(ValueError, match="assumed_watts"):
        EstimatedMeter(0.0, reason="x")
