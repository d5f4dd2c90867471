"""Energy as deployed on fake meters: a sweep gives one point per setting, settings are undone afterwards
(threads, compilation, the GPU power limit even after an exception), traces are saved per window with the
sampler's cost, and a spread or a warming device flags a measurement unstable."""

from __future__ import annotations

import copy
import time
import types
from pathlib import Path

import pytest
import torch
import yaml

from vocoder_energy.core.config_checks import ConfigError, check_config
from vocoder_energy.cost import probe as probe_module
from vocoder_energy.cost.probe import ProbeSettings, measure_cost
from vocoder_energy.deployment import traces as traces_module
from vocoder_energy.deployment.apply import deployed
from vocoder_energy.deployment.power_limit import SettingUnavailable, power_limit
from vocoder_energy.deployment.settings import PAPER, Setting, sweep, swept_models
from vocoder_energy.deployment.stability import Thresholds, stability
from vocoder_energy.deployment.sweep import measure_sweep
from vocoder_energy.deployment.traces import CounterPower, TraceSampler, cpu_temperature_reader
from vocoder_energy.models import build_vocoder

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "tests" / "data" / "tiny.yaml").read_text())
FEATURES = {"sample_rate": 16000, "segment_samples": 16384, "n_mels": 80, "n_fft": 2048, "hop_length": 256}
CPU = torch.device("cpu")
PROBE = ProbeSettings(clips=2, seconds=0.05, flops_frames=4, windows=3, min_window_seconds=0.02, trace_hz=200)


def tiny_hifigan():
    return build_vocoder("hifigan", "S", upsample_initial_channel=16)


class FakeCounter:
    """A measured meter counting ``watts`` (a number, or a function of the window number) in real time."""

    method, backend, domains, update_period_s, power_limit_watts = "measured", "fake", ["fake_0"], 0.0, None

    def __init__(self, watts=100.0):
        self.watts, self.joules, self.last, self.reads = watts, 0.0, time.perf_counter(), 0

    def read(self) -> float:
        now = time.perf_counter()
        watts = self.watts(self.reads) if callable(self.watts) else self.watts
        self.joules += watts * (now - self.last)
        self.last, self.reads = now, self.reads + 1
        return self.joules


@pytest.fixture
def fake_meters(monkeypatch):
    """Every meter the probe and the trace sampler select is a fake counter (a new one each time)."""
    made = []

    def select(choice, device, assumed_watts, *args):
        made.append(FakeCounter())
        return made[-1]

    monkeypatch.setattr(probe_module, "select_meter", select)
    monkeypatch.setattr(traces_module, "select_meter", select)
    return made


# ----------------------------------------------------------------------------------------- settings
def test_a_sweep_is_every_combination_with_the_paper_s_setting_first():
    settings = sweep({"precision": ["bf16", "fp32"], "clips_per_call": ["auto"], "compile": ["eager"]}, 4)
    assert settings[0] == PAPER
    assert [s.name for s in settings] == ["fp32", "bf16-b1", "bf16-b2", "bf16", "fp32-b1", "fp32-b2"]
    assert Setting(precision="fp16", clips_per_call=4, compile="compiled", threads=1, power_limit_watts=250).name == (
        "fp16-b4-compiled-t1-250W"
    )
    assert sweep({}, 10) == [PAPER]
    # The probe's clip count in one call is the paper's way: named as such, not as b4.
    assert sweep({"clips_per_call": [4, "all"]}, 4) == [PAPER]
    assert Setting.from_dict(Setting(precision="bf16", threads=2).as_dict()) == Setting(precision="bf16", threads=2)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"clips_per_call": [8]}, "deployment.clips_per_call: 8 is more than the probe's 4 clips"),
        ({"precision": ["fp8"]}, "deployment.precision: 'fp8' is not one of fp32, bf16, fp16"),
        ({"threads": [0]}, "deployment.threads: 0 is not a positive number or all"),
    ],
)
def test_impossible_settings_are_errors_naming_the_key(section, message):
    with pytest.raises(ValueError, match=message):
        sweep(section, 4)


def test_deployment_models_must_be_configured_models():
    assert swept_models({"models": ["hifigan_M"]}, [("hifigan", "S"), ("hifigan", "M")]) == [("hifigan", "M")]
    config = copy.deepcopy(TINY) | {"deployment": {"models": ["hifigan_XL"]}}
    config["features"] = FEATURES | config["features"]
    with pytest.raises(ConfigError, match="deployment.models: 'hifigan_XL' is not a configured model"):
        check_config(config, build_models=False)


# ------------------------------------------------------------------------------------ a sweep
def test_a_sweep_measures_one_point_per_setting_and_skips_what_this_machine_cannot_run(fake_meters):
    settings = sweep(
        {"precision": ["fp32", "bf16"], "clips_per_call": ["auto"], "compile": ["eager", "cuda_graphs"]}, 2
    )
    result = measure_sweep(tiny_hifigan(), settings, PROBE, CPU)
    points = {point["setting"]["name"]: point for point in result["points"]}
    assert list(points) == [s.name for s in settings]
    measured = {name for name, point in points.items() if point["status"] == "measured"}
    assert measured == {"fp32", "fp32-b1", "bf16-b1", "bf16"}
    assert points["bf16-cuda_graphs"]["reason"] == "CUDA graphs need a GPU; this job runs on cpu"
    for name in measured:
        cost = points[name]["cost"]
        assert cost["energy"]["backend"] == "fake" and cost["energy"]["joules_per_audio_second"] > 0
        assert cost["setting"]["name"] == name
        # FLOPs do not depend on how the model runs: counted once, the same in every point.
        assert cost["flops"]["per_audio_second"] == points["fp32"]["cost"]["flops"]["per_audio_second"]
    assert points["bf16-b1"]["cost"]["workload"]["batch_size"] == 1
    assert points["bf16"]["cost"]["workload"]["dtype"] == "bfloat16 (autocast)"


def test_a_setting_changes_how_the_model_runs_and_is_undone_afterwards():
    model, mel = tiny_hifigan(), torch.rand(3, 80, 4)
    threads = torch.get_num_threads()
    reference = model.generate(mel, seed=0)
    with deployed(model, Setting(precision="bf16", clips_per_call=2, threads=1), CPU) as run:
        assert torch.get_num_threads() == 1
        audio = run(mel)
    assert torch.get_num_threads() == threads
    assert audio.dtype == torch.float32 and audio.shape == reference.shape
    # bf16 changes the audio a little, not wholesale (HiFi-GAN is deterministic: batching changes nothing).
    assert 0 < (audio - reference).abs().max() < 0.1 * reference.abs().max() + 1e-3
    with deployed(model, Setting(clips_per_call=1), CPU) as run:
        torch.testing.assert_close(run(mel), reference, atol=1e-6, rtol=1e-5)


def test_a_compiled_setting_is_undone_even_when_the_block_fails(monkeypatch):
    model = tiny_hifigan()
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda function, **options: compiled.append(options) or function)
    with pytest.raises(RuntimeError, match="boom"), deployed(model, Setting(compile="compiled"), CPU):
        assert "forward" in vars(model.generator)  # the instance's compiled forward shadows the class's
        raise RuntimeError("boom")
    assert "forward" not in vars(model.generator) and compiled == [{}]


class FakeNvml:
    """pynvml's power-limit calls on one GPU, in milliwatts; ``refuse`` makes setting fail as without root."""

    def __init__(self, limit=300_000, low=100_000, high=350_000, refuse=False):
        self.limit, self.low, self.high, self.refuse, self.history = limit, low, high, refuse, []

    def nvmlDeviceGetHandleByIndex(self, index):  # noqa: N802 (pynvml's names)
        return f"gpu{index}"

    def nvmlDeviceGetPowerManagementLimit(self, handle):  # noqa: N802
        return self.limit

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle):  # noqa: N802
        return self.low, self.high

    def nvmlDeviceSetPowerManagementLimit(self, handle, milliwatts):  # noqa: N802
        if self.refuse:
            raise PermissionError("Insufficient Permissions")
        self.limit = milliwatts
        self.history.append(milliwatts)


def test_the_power_limit_is_held_inside_and_restored_after_an_exception(monkeypatch):
    monkeypatch.setattr("vocoder_energy.deployment.power_limit.nvml_handle", lambda nvml, index: f"gpu{index}")
    gpu, nvml = torch.device("cuda", 0), FakeNvml()
    with pytest.raises(RuntimeError, match="out of cheese"), power_limit(gpu, 200, nvml=nvml) as held:
        assert nvml.limit == 200_000 and held == {"set_watts": 200.0, "previous_watts": 300.0}
        raise RuntimeError("out of cheese")
    assert nvml.limit == 300_000 and nvml.history == [200_000, 300_000]
    with pytest.raises(SettingUnavailable, match="400 W is outside this GPU's allowed limits, 100-350 W"):
        with power_limit(gpu, 400, nvml=nvml):
            pass
    with pytest.raises(SettingUnavailable, match="NVML refused to set the power limit .*Insufficient Permissions"):
        with power_limit(gpu, 200, nvml=FakeNvml(refuse=True)):
            pass
    with pytest.raises(SettingUnavailable, match="this job runs on cpu"):
        with power_limit(CPU, 200, nvml=nvml):
            pass


def test_a_power_limit_a_cpu_cannot_take_is_a_skipped_point_with_the_reason(fake_meters):
    result = measure_sweep(tiny_hifigan(), sweep({"power_limit_watts": ["default", 150]}, 2), PROBE, CPU)
    assert [p["status"] for p in result["points"]] == ["measured", "skipped"]
    assert result["points"][1]["reason"].startswith("a power limit is set on a GPU through NVML")


# ----------------------------------------------------------------------------- traces and stability
def test_traces_are_saved_per_window_with_the_sampler_s_own_cost(fake_meters):
    cost = measure_cost(tiny_hifigan(), PROBE, CPU)
    trace = cost["trace"]
    assert [(w["phase"], w["window"]) for w in trace["windows"]] == [("idle", i) for i in range(3)] + [
        ("load", i) for i in range(3)
    ]
    assert trace["hz"] == 200 and trace["power_source"] == "fake counter differences"
    for window in trace["windows"]:
        assert window["t"] and len(window["t"]) == len(window["watts"]) == len(window["celsius"])
        assert window["watts"][1:] and all(w == pytest.approx(100.0, rel=0.2) for w in window["watts"][1:] if w)
    assert trace["samples"] == sum(len(w["t"]) for w in trace["windows"])
    assert 0 <= trace["sampler_cpu_share"] < 1 and trace["sampler_wall_seconds"] > 0
    assert cost["energy"]["stability"]["unchecked"] == ["thermal drift (no temperature reading)"]


def test_the_sampler_samples_at_its_rate_and_reads_temperature():
    readings = iter(range(1000))
    sampler = TraceSampler(power=lambda: 42.0, temperature=lambda: 40.0 + next(readings), hz=100)
    with sampler.window("load", 0):
        time.sleep(0.2)
    window = sampler.windows[0]
    assert 10 <= len(window["t"]) <= 25  # 100 Hz for 0.2 s, give or take a loaded machine's scheduling
    assert window["watts"] == [42.0] * len(window["t"]) and window["celsius"][:2] == [40.0, 41.0]
    counter = CounterPower(types.SimpleNamespace(read=iter([0.0, 5.0]).__next__))
    assert counter() is None and counter() > 0


def test_a_cpu_temperature_is_read_from_a_known_thermal_zone(tmp_path):
    zone = tmp_path / "thermal_zone3"
    zone.mkdir()
    (zone / "type").write_text("x86_pkg_temp\n")
    (zone / "temp").write_text("51250\n")
    assert cpu_temperature_reader(tmp_path)() == 51.25
    assert cpu_temperature_reader(tmp_path / "none") is None


def test_a_spread_across_windows_flags_the_measurement_unstable(monkeypatch):
    # The load power doubles every other window: the energy per workload spreads far beyond 10 %.
    meters = []

    def select(choice, device, assumed_watts, *args):
        meters.append(FakeCounter(watts=lambda reads: 100.0 if (reads // 2) % 2 else 300.0))
        return meters[-1]

    monkeypatch.setattr(probe_module, "select_meter", select)
    monkeypatch.setattr(traces_module, "select_meter", lambda *args: FakeCounter())
    verdict = measure_cost(tiny_hifigan(), PROBE, CPU)["energy"]["stability"]
    assert verdict["stable"] is False and verdict["spread"] > 0.1
    assert verdict["reasons"][0].startswith("energy per workload spreads") and "(> 10%)" in verdict["reasons"][0]


def test_a_warming_device_flags_the_measurement_unstable_and_steady_windows_do_not():
    loads = [{"phase": "load", "joules": 10.0, "repeats": 2} for _ in range(3)]
    warming = [{"phase": "load", "celsius": [c, c + 1]} for c in (50.0, 53.0, 58.0)]
    verdict = stability(loads, warming, Thresholds(max_spread=0.1, max_drift_celsius=5))
    assert verdict["stable"] is False and verdict["drift_celsius"] == pytest.approx(8.0)
    assert verdict["reasons"] == ["the device warmed 8.0 C from the first load window to the last (> 5 C)"]
    steady = stability(loads, warming[:1] * 3, Thresholds())
    assert steady == steady | {"stable": True, "reasons": [], "spread": 0.0, "drift_celsius": 0.0, "unchecked": []}
