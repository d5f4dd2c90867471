"""The measurement protocol on a deterministic fake meter and clock: idle baseline, net energy and its
interval, flags, cooldown, CUDA synchronisation; the test-split workload; the summary's energy columns."""

from __future__ import annotations

import json
import math
import statistics
import types

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import t
from stage_documents import train_json

from vocoder_energy.analysis.summary import build_summary
from vocoder_energy.core.intervals import welch_half_width
from vocoder_energy.cost import protocol
from vocoder_energy.cost.carbon import kg_co2eq
from vocoder_energy.cost.meters import EstimatedMeter
from vocoder_energy.cost.probe import energy_section, tiled_test_mel
from vocoder_energy.cost.protocol import measure_workload

CPU = torch.device("cpu")


class Machine:
    """A fake clock and a device drawing ``idle_watts`` while nothing runs and ``load_watts`` while the
    workload runs; its meter counts joules like a real counter."""

    def __init__(self, idle_watts=50.0, load_watts=200.0, seconds_per_call=0.3):
        self.now = 1000.0
        self.joules = 0.0
        self.idle_watts, self.load_watts, self.seconds_per_call = idle_watts, load_watts, seconds_per_call
        self.sleeps: list[float] = []
        self.calls = 0

    # the time module the protocol sees
    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.joules += self.current(self.idle_watts) * seconds

    def workload(self) -> None:
        self.calls += 1
        self.now += self.seconds_per_call
        self.joules += self.current(self.load_watts) * self.seconds_per_call

    @staticmethod
    def current(watts):
        return watts() if callable(watts) else watts


class Meter:
    method, backend, domains = "measured", "fake", ["fake_0"]

    def __init__(self, machine: Machine, update_period_s=0.1, power_limit_watts=None):
        self.machine, self.update_period_s, self.power_limit_watts = machine, update_period_s, power_limit_watts

    def read(self) -> float:
        return self.machine.joules


@pytest.fixture
def machine(monkeypatch):
    fake = Machine()
    monkeypatch.setattr(protocol, "time", types.SimpleNamespace(perf_counter=fake.perf_counter, sleep=fake.sleep))
    return fake


def run(machine, meter=None, **options):
    settings = {"windows": 4, "min_window_seconds": 1.0, "warmup": 1} | options
    return measure_workload(machine.workload, CPU, meter=meter or Meter(machine), **settings)


def test_idle_is_subtracted_from_known_load_and_idle_power(machine):
    result = run(machine)
    # 4 calls of 0.3 s per 1 s window; idle windows last min_window_seconds (longer than one call).
    assert result["repeats_per_window"] == [4, 4, 4, 4]
    assert result["seconds_per_workload"] == pytest.approx(0.3)
    assert result["joules_per_workload"] == pytest.approx(200.0 * 0.3)  # gross
    assert result["average_watts"] == pytest.approx(200.0)
    assert result["idle_watts"] == pytest.approx(50.0)
    assert result["idle_window_seconds"] == pytest.approx(1.0)
    assert result["idle_joules_per_workload"] == pytest.approx(50.0 * 0.3)
    assert result["net_joules_per_workload"] == pytest.approx(150.0 * 0.3)
    assert result["net_method"] == "measured"
    for key in ("joules_per_workload_ci95", "idle_watts_ci95", "net_joules_per_workload_ci95"):
        assert result[key] == pytest.approx(0.0, abs=1e-9), key  # identical windows
    assert len(result["idle_windows"]) == 4 and all(w["repeats"] == 0 for w in result["idle_windows"])
    assert result["flags"] == []
    assert machine.calls == 1 + 16  # warm-up calls run but are not counted


def test_idle_windows_are_as_long_as_one_call_when_that_is_longer(machine):
    machine.seconds_per_call = 2.5
    result = run(machine, windows=2)
    assert result["repeats_per_window"] == [1, 1]
    assert result["idle_window_seconds"] == pytest.approx(2.5)


def test_intervals_on_varying_idle_and_load_power(machine):
    idle_power, load_power = iter([48.0, 50.0, 52.0, 50.0]), iter([190.0, 200.0, 210.0, 200.0])
    state = {"idle": None, "load": None}

    def idle_watts():
        return state["idle"]

    def load_watts():
        return state["load"]

    machine.idle_watts, machine.load_watts = idle_watts, load_watts
    machine.seconds_per_call = 1.0  # one call per window
    original_sleep, original_workload = machine.sleep, machine.workload
    calls = {"n": 0}

    def sleep(seconds):  # each idle window is one sleep: a new idle power per window
        state["idle"] = next(idle_power)
        original_sleep(seconds)

    def workload():
        calls["n"] += 1
        state["load"] = 200.0 if calls["n"] == 1 else next(load_power)  # the first call is the warm-up
        original_workload()

    machine.sleep, machine.workload = sleep, workload
    protocol.time.sleep = sleep
    result = measure_workload(workload, CPU, meter=Meter(machine), windows=4, min_window_seconds=1.0, warmup=1)
    idle, load = [48.0, 50.0, 52.0, 50.0], [190.0, 200.0, 210.0, 200.0]
    t3 = t.ppf(0.975, 3)
    assert result["idle_watts"] == pytest.approx(50.0)
    assert result["idle_watts_ci95"] == pytest.approx(t3 * statistics.stdev(idle) / 2)
    assert result["joules_per_workload"] == pytest.approx(200.0)
    assert result["joules_per_workload_ci95"] == pytest.approx(t3 * statistics.stdev(load) / 2)
    net = [p - 50.0 for p in load]
    assert result["net_joules_per_workload"] == pytest.approx(150.0)
    # Both sources of spread, Welch-Satterthwaite: var(net)/4 + var(idle)/4 with df from both.
    va, vb = statistics.variance(net) / 4, statistics.variance(idle) / 4
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 3)
    assert result["net_joules_per_workload_ci95"] == pytest.approx(t.ppf(0.975, df) * math.sqrt(va + vb))


def test_welch_half_width_edge_cases():
    assert welch_half_width([1.0, 1.0], [2.0, 2.0]) == 0.0
    assert math.isnan(welch_half_width([1.0], [1.0, 2.0]))
    # Equal sizes and variances: df = 2(n-1), the pooled t-interval.
    a, b = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    assert welch_half_width(a, b) == pytest.approx(t.ppf(0.975, 4) * math.sqrt(2 / 3))


def test_a_short_window_is_flagged(machine):
    machine.seconds_per_call = 0.01
    result = run(machine, windows=2, min_window_seconds=0.05)  # 50 ms < NVML's 100 ms update period
    flagged = {(f["flag"], f["phase"], f["window"]) for f in result["flags"]}
    assert flagged == {("short_window", phase, i) for phase in ("idle", "load") for i in (0, 1)}
    assert "0.1 s" in result["flags"][0]["detail"]
    assert result["joules_per_workload"] == pytest.approx(2.0)  # flagged, not dropped or hidden


def test_a_negative_delta_is_flagged_in_its_window(machine):
    calls = {"n": 0}
    original = machine.workload

    def workload():
        calls["n"] += 1
        original()
        if calls["n"] == 1 + 4 + 2:  # second call of the second load window: the counter was reset
            machine.joules -= 1000.0

    result = measure_workload(workload, CPU, meter=Meter(machine), windows=3, min_window_seconds=1.0, warmup=1)
    negative = [f for f in result["flags"] if f["flag"] == "non_positive_delta"]
    assert [(f["phase"], f["window"]) for f in negative] == [("load", 1)]
    assert any(f["flag"] == "below_idle_power" and f["window"] == 1 for f in result["flags"])
    assert result["load_windows"][1]["joules"] < 0


def test_power_above_the_limit_and_below_idle_are_flagged(machine):
    result = run(machine, meter=Meter(machine, power_limit_watts=150.0), windows=2)
    assert {f["flag"] for f in result["flags"]} == {"above_power_limit"}
    assert {f["phase"] for f in result["flags"]} == {"load"}  # idle's 50 W is within the limit
    machine.load_watts = 40.0  # a load drawing less than idle: something else was running during idle
    result = run(machine, windows=2)
    assert [f["flag"] for f in result["flags"]] == ["below_idle_power", "below_idle_power"]


def test_cooldown_precedes_every_window_and_is_not_counted(machine):
    result = run(machine, windows=3, cooldown_seconds=5.0)
    assert machine.sleeps.count(5.0) == 6  # 3 idle + 3 load windows
    assert result["cooldown_seconds"] == 5.0
    assert result["idle_watts"] == pytest.approx(50.0)
    assert result["net_joules_per_workload"] == pytest.approx(45.0)
    assert all(w["seconds"] == pytest.approx(1.2) for w in result["load_windows"])


def test_estimated_energy_has_no_idle_baseline_and_no_net(machine):
    meter = EstimatedMeter(120.0, reason="no counter", clock=machine.perf_counter)
    result = run(machine, meter=meter, windows=3)
    assert (result["method"], result["backend"], result["assumed_watts"]) == ("estimated", "estimated", 120.0)
    assert result["estimate_reason"] == "no counter"
    assert result["joules_per_workload"] == pytest.approx(0.3 * 120.0)
    assert result["idle_windows"] == [] and machine.sleeps == []  # no idle windows were run
    assert result["net_method"] == "unavailable" and "no idle power" in result["net_unavailable_reason"]
    assert result["net_joules_per_workload"] is None and result["idle_watts"] is None
    assert result["flags"] == []


def test_no_meter_is_estimated_from_the_real_clock():
    result = measure_workload(
        lambda: sum(range(2000)), CPU, meter=None, windows=3, min_window_seconds=0.005, assumed_watts=42.0
    )
    assert result["method"] == "estimated" and result["domains"] == []
    assert min(result["repeats_per_window"]) >= 1
    assert result["joules_per_workload"] == pytest.approx(result["seconds_per_workload"] * 42.0, rel=1e-9)


def test_cuda_is_synchronised_between_the_last_kernel_and_every_counter_read(machine, monkeypatch):
    events = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append("sync"))

    class Recording(Meter):
        def read(self):
            events.append("read")
            return super().read()

    def workload():
        events.append("work")
        machine.workload()

    measure_workload(workload, torch.device("cuda", 0), meter=Recording(machine), windows=2, min_window_seconds=1.0)
    assert events.count("read") == 8  # two edges of 2 idle and 2 load windows
    for i, event in enumerate(events):
        if event == "read":
            since_work = events[: i + 1][::-1]
            last_work = since_work.index("work") if "work" in since_work else len(since_work)
            assert "sync" in since_work[:last_work], f"read {i} without a sync after the last kernel"


# ---------------------------------------------------------------------------------------- workload
def test_tiled_test_mels_are_joined_and_tiled_to_the_probe_length(tmp_path):
    mel = np.arange(3 * 2 * 4, dtype=np.float32).reshape(3, 2, 4)  # 3 clips, 2 mels, 4 frames
    path = tmp_path / "test.npz"
    np.savez(path, audio=np.zeros((3, 16)), mel=mel, ids=np.array(["a", "b", "c"]))
    out = tiled_test_mel(path, clips=2, frames=7, device=CPU)
    stream = np.concatenate(list(mel), axis=-1)  # 12 frames, then from the start again
    assert out.shape == (2, 2, 7)
    np.testing.assert_array_equal(out[0].numpy(), stream[:, :7])
    np.testing.assert_array_equal(out[1].numpy(), np.concatenate([stream[:, 7:], stream[:, :2]], axis=-1))


# ----------------------------------------------------------------------------------------- summary
def cost_document(measured: dict, audio_seconds=10.0) -> dict:
    return {
        "parameters": {"value": 1},
        "flops": {"per_audio_second": 1e9, "macs_per_audio_second": 5e8, "sample_rate": 16000},
        "time": {"real_time_factor": 0.1},
        "energy": energy_section(measured, audio_seconds, clips=2),
        "memory": {"peak_bytes": 4096},
        "context": {"device": "cpu"},
    }


def test_summary_uses_the_configured_basis_and_converts_net_energy_to_carbon(machine, tmp_path):
    measured = run(machine, meter=Meter(machine, power_limit_watts=150.0), windows=2)  # flagged above limit
    estimated = run(machine, meter=EstimatedMeter(300.0, "no counter", clock=machine.perf_counter), windows=2)
    paths = {stage: [] for stage in ("train", "quality", "cost")}
    for name, result in (("a", measured), ("b", estimated)):
        documents = {
            "train": train_json(1, 1.0),
            "quality": {"d_stft": {"value": 0.1 if name == "a" else 0.05, "method": "measured"}},
            "cost": cost_document(result),
        }
        for stage, document in documents.items():
            path = tmp_path / f"{stage}_{name}.json"
            path.write_text(json.dumps(document))
            paths[stage].append(str(path))
    jobs = [("hifigan", "S"), ("diffwave", "S")]
    net_rows = build_summary(jobs, *paths.values(), tmp_path / "net.csv", energy_basis="net", carbon_intensity=0.7)
    gross_rows = build_summary(jobs, *paths.values(), tmp_path / "gross.csv", energy_basis="gross")
    a, b = net_rows
    # 0.3 s of 10 s of audio per workload: gross 60 J, net 45 J per workload.
    assert a["energy_basis"] == "net" and a["energy_joules_per_audio_second"] == pytest.approx(4.5)
    assert a["energy_gross_joules_per_audio_second"] == pytest.approx(6.0)
    assert a["energy_net_joules_per_audio_second"] == pytest.approx(4.5)
    assert (a["idle_watts"], a["average_watts"], a["power_limit_watts"]) == pytest.approx((50.0, 200.0, 150.0))
    assert a["energy_flags"] == "above_power_limit"
    assert a["inference_kg_co2eq_per_audio_hour"] == pytest.approx(kg_co2eq(4.5 * 3600, 0.7))
    assert a["peak_memory_bytes"] == 4096 and a["energy_backend"] == "fake"
    # The estimate has no net energy: not on the net front, no carbon figure, and says why.
    assert b["energy_net_method"] == "unavailable" and math.isnan(b["energy_joules_per_audio_second"])
    assert math.isnan(b["inference_kg_co2eq_per_audio_hour"])
    assert (a["pareto_d_stft_vs_energy"], b["pareto_d_stft_vs_energy"]) == (True, False)
    assert gross_rows[1]["energy_joules_per_audio_second"] == pytest.approx(0.3 * 300.0 / 10.0)
    assert [r["pareto_d_stft_vs_energy"] for r in gross_rows] == [True, True]
    with pytest.raises(ValueError, match=r"measurement\.energy: 'both'"):
        build_summary(jobs, *paths.values(), tmp_path / "x.csv", energy_basis="both")


def test_the_figure_says_so_when_no_row_has_net_energy(tmp_path):
    from vocoder_energy.analysis.objectives import COSTS, quality_objectives
    from vocoder_energy.analysis.plots import pareto_figure

    frame = pd.DataFrame(
        {"model": ["hifigan"], "size": ["S"], "d_stft": [0.1], "gflops": [2.0], "energy": [math.nan]}
        | {"energy_method": ["estimated"], "on_front_gflops": [True], "on_front_energy": [False]}
    )
    costs = [COSTS["gflops"], COSTS["energy"]]
    pareto_figure(
        frame, quality_objectives()["d_stft"], costs, [tmp_path / "p.svg"], method_columns={"energy": "energy_method"}
    )
    text = (tmp_path / "p.svg").read_text()  # every energy value unavailable: no log axis to break
    assert "nothing to plot" in text and "not plotted (no finite value): energy panel: HiFi-GAN S" in text
