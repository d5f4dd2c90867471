"""Energy meters on fake counters (a powercap tree in tmp_path, an injected pynvml) and the window protocol."""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import pytest
import torch

from vocoder_energy import energy
from vocoder_energy.energy import NvmlMeter, RaplMeter, find_meter, measure_workload

CPU = torch.device("cpu")


# ------------------------------------------------------------------------------------------- RAPL
def make_zone(root: Path, name: str, label: str | None, energy_uj: int, max_range_uj: int = 262_143_328_850) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
    if label is not None:
        (zone / "name").write_text(f"{label}\n")
    return zone


def set_energy(zone: Path, energy_uj: int) -> None:
    (zone / "energy_uj").write_text(f"{energy_uj}\n")


@pytest.fixture
def powercap(tmp_path):
    """One package zone and its core sub-zone, laid out as /sys/class/powercap (flat, as the kernel does)."""
    root = tmp_path / "powercap"
    package = make_zone(root, "intel-rapl:0", "package-0", 1_000_000, max_range_uj=10_000_000)
    core = make_zone(root, "intel-rapl:0:0", "core", 500_000, max_range_uj=10_000_000)
    (root / "intel-rapl").mkdir()  # the control-type directory, not a zone
    return root, package, core


def test_rapl_reads_joules_since_construction(powercap):
    root, package, _ = powercap
    meter = RaplMeter(root)
    assert meter.method == "measured"
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
    """The part of pynvml the meter uses; energy in millijoules per device index."""

    def __init__(self, millijoules: dict[int, int], fail: bool = False):
        self.millijoules = millijoules
        self.fail = fail
        self.initialised = 0
        self.module = types.ModuleType("pynvml")
        self.module.nvmlInit = self.init
        self.module.nvmlDeviceGetHandleByIndex = lambda index: ("handle", index)
        self.module.nvmlDeviceGetHandleByUUID = lambda uuid: ("handle", {"GPU-b": 1}[uuid])
        self.module.nvmlDeviceGetTotalEnergyConsumption = self.energy

    def init(self) -> None:
        self.initialised += 1

    def energy(self, handle) -> int:
        if self.fail:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
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
    assert meter.method == "measured"
    assert meter.domains == ["nvidia_gpu_1"]
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
    monkeypatch.setattr(energy, "cuda_uuid", lambda index: {0: "GPU-b"}[index])
    assert NvmlMeter(0).read() == pytest.approx(123.456)


def test_find_meter_cuda_returns_none_without_an_energy_counter(monkeypatch):
    fake = FakeNvml({0: 0}, fail=True)
    monkeypatch.setitem(sys.modules, "pynvml", fake.module)
    assert find_meter(torch.device("cuda", 0)) is None


def test_find_meter_cuda_returns_none_without_pynvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    assert find_meter(torch.device("cuda", 0)) is None


# ------------------------------------------------------------------------------- measure_workload
class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now


class FakeMeter:
    method = "measured"

    def __init__(self, domains=("package-0",)):
        self.domains = list(domains)
        self.joules = 0.0
        self.reads = 0

    def read(self) -> float:
        self.reads += 1
        return self.joules


class Workload:
    """Each call advances the fake clock by ``seconds`` and the fake meter by ``joules``."""

    def __init__(self, clock: FakeClock, meter: FakeMeter | None, seconds: float, joules: float):
        self.clock, self.meter, self.seconds, self.joules = clock, meter, seconds, joules
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        self.clock.now += self.seconds
        if self.meter is not None:
            self.meter.joules += self.joules


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(energy, "time", types.SimpleNamespace(perf_counter=fake.perf_counter))
    return fake


def test_measured_energy_per_workload_from_the_meter(clock):
    meter = FakeMeter(domains=["package-0", "package-1"])
    work = Workload(clock, meter, seconds=0.3, joules=2.5)
    result = measure_workload(work, CPU, meter=meter, windows=4, min_window_seconds=1.0, warmup=2)
    assert result["method"] == "measured"
    assert result["domains"] == ["package-0", "package-1"]
    assert result["assumed_watts"] is None
    assert result["joules_per_workload"] == pytest.approx(2.5)
    assert result["seconds_per_workload"] == pytest.approx(0.3)
    assert result["average_watts"] == pytest.approx(2.5 / 0.3)
    assert result["joules_per_workload_ci95"] == pytest.approx(0.0, abs=1e-9)  # identical windows
    assert result["windows"] == 4
    assert result["repeats_per_window"] == [4, 4, 4, 4]  # 3 x 0.3 s < 1 s <= 4 x 0.3 s
    assert work.calls == 2 + 16  # warm-up calls are run but not counted
    assert "warning" not in result


def test_min_window_seconds_is_honoured_in_every_window(clock):
    meter = FakeMeter()
    for per_call, min_window in ((0.07, 0.5), (0.25, 1.0), (2.0, 1.0), (0.01, 0.0)):
        work = Workload(clock, meter, seconds=per_call, joules=1.0)
        result = measure_workload(work, CPU, meter=meter, windows=3, min_window_seconds=min_window, warmup=0)
        repeats = result["repeats_per_window"]
        assert len(repeats) == 3
        assert min(repeats) >= 1
        for count in repeats:
            assert count * per_call >= min_window - 1e-9
            assert count == 1 or (count - 1) * per_call < min_window  # and no longer than needed
        assert work.calls == sum(repeats)


def test_per_window_energy_varies_gives_a_t_interval(clock):
    meter = FakeMeter()
    window_joules = iter([1.0, 2.0, 3.0])

    calls = []

    def work():
        calls.append(1)
        clock.now += 1.0
        if len(calls) > 1:  # after the warm-up call: one call per window (1 s >= 0.5 s)
            meter.joules += next(window_joules)

    result = measure_workload(work, CPU, meter=meter, windows=3, min_window_seconds=0.5, warmup=1)
    assert result["joules_per_workload"] == pytest.approx(2.0)
    # t(0.975, 2) x s / sqrt(3) with s = 1
    assert result["joules_per_workload_ci95"] == pytest.approx(4.302652729911275 / math.sqrt(3), rel=1e-9)


def test_single_window_has_no_interval(clock):
    meter = FakeMeter()
    result = measure_workload(Workload(clock, meter, 1.0, 1.0), CPU, meter=meter, windows=1, min_window_seconds=0.5)
    assert result["repeats_per_window"] == [1]
    assert math.isnan(result["joules_per_workload_ci95"])


def test_without_a_meter_energy_is_estimated_from_time(clock):
    work = Workload(clock, None, seconds=0.2, joules=0.0)
    result = measure_workload(work, CPU, meter=None, windows=3, min_window_seconds=1.0, assumed_watts=250.0)
    assert result["method"] == "estimated"
    assert result["domains"] == []
    assert result["assumed_watts"] == 250.0
    assert result["seconds_per_workload"] == pytest.approx(0.2)
    assert result["joules_per_workload"] == pytest.approx(0.2 * 250.0)
    assert result["average_watts"] == pytest.approx(250.0)
    assert "warning" not in result


def test_estimated_energy_with_the_real_clock_is_time_times_assumed_power():
    calls = []
    result = measure_workload(
        lambda: calls.append(sum(range(2000))), CPU, meter=None, windows=3, min_window_seconds=0.005, assumed_watts=42.0
    )
    assert result["method"] == "estimated"
    assert result["windows"] == 3 and len(result["repeats_per_window"]) == 3
    assert min(result["repeats_per_window"]) >= 1
    assert len(calls) == 1 + sum(result["repeats_per_window"])
    assert result["seconds_per_workload"] > 0
    assert result["joules_per_workload"] == pytest.approx(result["seconds_per_workload"] * 42.0, rel=1e-9)
    assert result["average_watts"] == pytest.approx(42.0, rel=1e-9)


def test_warns_when_a_window_shows_no_energy(clock):
    meter = FakeMeter()  # a counter that never advances: windows shorter than its update period
    result = measure_workload(Workload(clock, meter, 0.5, 0.0), CPU, meter=meter, windows=2, min_window_seconds=1.0)
    assert result["method"] == "measured"
    assert result["joules_per_workload"] == 0.0
    assert "non-positive" in result["warning"]


def test_warns_when_one_window_goes_negative(clock):
    meter = FakeMeter()
    deltas = iter([1.0, 1.0, -5.0, 1.0])  # warm-up, then three windows: a driver reload in the second

    def work():
        clock.now += 1.0
        meter.joules += next(deltas)

    result = measure_workload(work, CPU, meter=meter, windows=3, min_window_seconds=1.0, warmup=1)
    assert "warning" in result
