"""The deployment figures: power traces per measured setting (from a real sampler on a fake counter) and
D_STFT against each cost per setting, written as PNG and SVG."""

from __future__ import annotations

import math
import time

import matplotlib.image
import matplotlib.text
import numpy as np
import pytest

from vocoder_energy.deployment import figures
from vocoder_energy.deployment.figures import setting_pareto_figure, trace_figure
from vocoder_energy.deployment.settings import Setting
from vocoder_energy.deployment.stability import Thresholds, stability
from vocoder_energy.deployment.traces import CounterPower, TraceSampler


class FakeCounter:
    """An energy counter accumulating ``watts`` (changed between windows) over real time."""

    def __init__(self):
        self.watts, self.joules, self.last = 40.0, 0.0, time.perf_counter()

    def read(self) -> float:
        now = time.perf_counter()
        self.joules += self.watts * (now - self.last)
        self.last = now
        return self.joules


def sampled(temperature: bool, joules_per_window: tuple[float, float]) -> tuple[dict, dict]:
    """A trace of an idle window then two load windows, sampled from counter differences (the first sample
    has no reading), and its stability verdict for load windows of ``joules_per_window``."""
    counter = FakeCounter()
    sampler = TraceSampler(CounterPower(counter), temperature=(lambda: 51.5) if temperature else None, hz=200)
    for phase, index, watts in (("idle", 0, 40.0), ("load", 0, 180.0), ("load", 1, 190.0)):
        counter.watts = watts
        with sampler.window(phase, index):
            time.sleep(0.03)
    loads = [{"joules": joules, "repeats": 1} for joules in joules_per_window]
    return sampler.document(), stability(loads, sampler.windows, Thresholds())


def entry(setting: Setting, temperature: bool, joules=(10.0, 10.1)) -> dict:
    trace, verdict = sampled(temperature, joules)
    return {"setting": setting.label, "trace": trace, "stability": verdict}


@pytest.fixture
def drawn(monkeypatch):
    """Every figure the module draws, kept for inspection after it is written."""
    kept = []
    save = figures._save

    def keep(fig, out_stem):
        kept.append(fig)
        save(fig, out_stem)

    monkeypatch.setattr(figures, "_save", keep)
    return kept


def written(out_stem) -> str:
    """The SVG's text, after checking that the PNG beside it decodes to an image."""
    image = matplotlib.image.imread(out_stem.with_name(out_stem.name + ".png"))
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return out_stem.with_name(out_stem.name + ".svg").read_text()


def test_trace_figure_draws_each_setting_with_its_verdict_and_temperature_only_where_read(tmp_path, drawn):
    warm = entry(Setting(precision="bf16", clips_per_call=1), temperature=True)
    spread = entry(Setting(), temperature=False, joules=(10.0, 14.0))
    assert warm["stability"]["stable"] and not spread["stability"]["stable"]
    out = tmp_path / "new" / "traces"  # parent folders are created

    trace_figure("Power traces of HiFi-GAN S", [warm, spread], out)

    svg = written(out)
    assert "bf16, 1 per call: stable" in svg and "fp32, all clips per call: unstable" in svg
    assert "energy per workload spreads" in svg  # the reason is stated
    assert svg.count("no temperature reading") == 1 and "temperature (°C)" in svg
    assert "200 Hz" in svg and "counter differences" not in svg  # a hand-made sampler names no source
    (fig,) = drawn
    power_axes = [ax for ax in fig.axes if ax.get_ylabel() == "power (W)"]
    temperature_axes = [ax for ax in fig.axes if ax.get_ylabel() == "temperature (°C)"]
    assert len(power_axes) == 2 and len(temperature_axes) == 1  # only the panel whose sensor read
    assert power_axes[0].get_ylim() == power_axes[1].get_ylim()  # one power scale for every panel
    titles = {text.get_text(): text.get_color() for text in fig.findobj(matplotlib.text.Text)}
    assert titles["fp32, all clips per call: unstable: " + spread["stability"]["reasons"][0]] == figures.UNSTABLE_COLOUR
    assert titles["bf16, 1 per call: stable"] != figures.UNSTABLE_COLOUR


def test_trace_figure_skips_missing_power_readings_rather_than_drawing_zero(tmp_path, drawn):
    one = entry(Setting(), temperature=False)
    windows = one["trace"]["windows"]
    assert windows[0]["watts"][0] is None  # the counter's first read has no difference yet
    readings = [w for window in windows for w in window["watts"] if w is not None]

    trace_figure("traces", [one], tmp_path / "traces")

    (fig,) = drawn
    drawn_watts = np.concatenate([line.get_ydata() for line in fig.axes[0].get_lines() if len(line.get_ydata())])
    assert len(drawn_watts) == len(readings) and np.all(drawn_watts > 0)
    assert np.all(np.isfinite(drawn_watts))


def test_trace_figure_shows_at_most_sixteen_panels_and_says_how_many_were_left_out(tmp_path, monkeypatch):
    kept = []
    monkeypatch.setattr(figures, "_save", lambda fig, out_stem: kept.append(fig))  # drawing 16 panels is slow
    one = entry(Setting(), temperature=False)
    many = [one | {"setting": f"setting number {i}"} for i in range(19)]

    trace_figure("traces", many, tmp_path / "traces")

    (fig,) = kept
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert len(titles) == 16 and titles[-1].startswith("setting number 15:")
    assert "first 16 of 19 settings shown; 3 left out" in fig.get_suptitle()
    assert fig.get_size_inches()[1] > 16 * 2  # the figure grows with its panels
    figures.plt.close(fig)


def test_figures_of_nothing_say_so(tmp_path):
    trace_figure("traces", [], tmp_path / "traces")
    setting_pareto_figure([row("hifigan", "S", "fp32", 1.0, 0.01, 0.5, status="skipped")], tmp_path / "pareto")
    assert "no measured setting" in written(tmp_path / "traces")
    assert "no measured setting" in written(tmp_path / "pareto")


def row(model, size, setting, energy, rtf, d_stft, **changes) -> dict:
    return {
        "model": model,
        "size": size,
        "setting": setting,
        "setting_label": setting,
        "precision": setting.split("-")[0],
        "status": "measured",
        "d_stft": d_stft,
        "real_time_factor": rtf,
        "energy_joules_per_audio_second": energy,
        "energy_basis": "net",
        "energy_method": "measured",
        "stable": True,
        "hardware": "NVIDIA H100 80GB HBM3",
        "pareto_d_stft_vs_energy": False,
    } | changes


def lines_of(ax, style: str) -> list[np.ndarray]:
    return [line.get_xdata() for line in ax.get_lines() if line.get_color() == "red" and line.get_linestyle() == style]


def test_setting_pareto_figure_marks_precision_estimates_instability_and_the_front(tmp_path, drawn):
    rows = [
        row("hifigan", "S", "fp32", 1.0, 0.010, 0.50),
        row("hifigan", "S", "bf16-b4", 0.6, 0.008, 0.51, stable=False),
        row("hifigan", "S", "fp16", 0.7, 0.009, 0.55, stable=None),  # dominated by bf16-b4; stability unknown
        row("melgan", "M", "fp32", 3.0, 0.020, 0.80, energy_method="estimated"),
        row("melgan", "M", "bf16", 2.0, 0.015, math.nan),  # quality failed: on no panel
        row("melgan", "M", "fp32-cuda_graphs", None, None, None, status="skipped"),
    ]
    setting_pareto_figure(rows, tmp_path / "pareto")

    svg = written(tmp_path / "pareto")
    for text in ("bf16-b4", "fp16", "HiFi-GAN S", "MelGAN M", "unstable", "hollow: estimated energy", "net"):
        assert text in svg
    assert "5 measurements on 1 machine; 1 setting not measured" in svg
    assert "not plotted (no finite value): 1 on the energy panel, 1 on the real-time factor panel" in svg
    (fig,) = drawn
    energy_ax, time_ax = fig.axes
    # Measured and estimated energies have their own fronts; time has one over every point.
    assert [list(x) for x in lines_of(energy_ax, "-")] == [[0.6, 1.0]]
    assert [list(x) for x in lines_of(energy_ax, "--")] == [[3.0]]
    assert [list(x) for x in lines_of(time_ax, "-")] == [[0.008, 0.010]]
    assert energy_ax.get_xscale() == "log" and time_ax.get_xscale() == "log"
    at = {tuple(c.get_offsets()[0]): c for c in energy_ax.collections if len(c.get_offsets()) == 1}
    assert len(at[(3.0, 0.80)].get_facecolors()) == 0  # hollow: estimated energy
    assert len(at[(1.0, 0.50)].get_facecolors()) == 1
    unstable = [c for c in energy_ax.collections if c.get_offsets().tolist() == [[0.6, 0.51]]]
    assert len(unstable) == 2  # the point and the red x over it
    assert len([c for c in energy_ax.collections if c.get_offsets().tolist() == [[0.7, 0.55]]]) == 1  # unknown


def test_setting_pareto_figure_coloured_by_hardware_names_each_machine(tmp_path, monkeypatch):
    kept = []
    monkeypatch.setattr(figures, "_save", lambda fig, out_stem: kept.append(fig))
    rows = [
        # The cost job's measurement of the paper's setting and the sweep's baseline, on the same machine.
        row("hifigan", "S", "fp32", 1.0, 0.01, 0.50, measurement="cost job"),
        row("hifigan", "S", "fp32", 1.1, 0.011, 0.50, measurement="sweep"),
        row("hifigan", "S", "bf16", 0.7, 0.008, 0.51, measurement="sweep"),
        # A row read back from the dataset's CSV: numbers and flags as strings.
        row("hifigan", "S", "fp32", "40.0", "0.3", "0.50", hardware="AMD EPYC 7763", stable="False"),
    ]
    setting_pareto_figure(rows, tmp_path / "pareto", colour_by="hardware")

    (fig,) = kept
    legend = [text.get_text() for text in fig.legends[0].get_texts()]
    assert {"NVIDIA H100 80GB HBM3", "AMD EPYC 7763", "fp32", "bf16", "unstable"} <= set(legend)
    assert "hollow: estimated energy" not in legend
    names = {text.get_text() for text in fig.axes[0].texts}  # the model named beside the setting
    assert {"HiFi-GAN S bf16", "HiFi-GAN S fp32 (cost job)", "HiFi-GAN S fp32 (sweep)", "HiFi-GAN S fp32"} <= names
    assert "2 machines" in fig.get_suptitle()
    figures.plt.close(fig)
    with pytest.raises(ValueError, match="colour_by"):
        setting_pareto_figure(rows, tmp_path / "pareto", colour_by="size")
