"""What a trained vocoder costs to run: parameters, FLOPs, time, real-time factor and energy."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from vocoder_energy.cost.context import machine_context, peak_memory, reset_peak_memory
from vocoder_energy.cost.flops import count_generate_flops
from vocoder_energy.cost.meters import select_meter
from vocoder_energy.cost.protocol import measure_workload
from vocoder_energy.data.features import load_split
from vocoder_energy.deployment.apply import deployed
from vocoder_energy.deployment.settings import PAPER, Setting
from vocoder_energy.deployment.stability import Thresholds, stability
from vocoder_energy.deployment.traces import TraceSampler
from vocoder_energy.models import Vocoder

PROBE_INPUTS = ("random", "test")  # measurement.input
DTYPE_NAMES = {"fp32": "float32", "bf16": "bfloat16 (autocast)", "fp16": "float16 (autocast)"}


@dataclass(frozen=True)
class ProbeSettings:
    """What the ``measurement:`` config section sets for a cost job (defaults: the schema's, by test)."""

    clips: int = 10  # the paper: 10 clips of 10 s
    seconds: float = 10.0
    flops_frames: int = 64  # Table 2 counted one 64-frame (16,384-sample) mel
    windows: int = 10
    min_window_seconds: float = 5.0
    warmup: int = 1
    cooldown_seconds: float = 0.0  # before every window (idle and load)
    assumed_watts: float = 300.0  # the paper's estimate for its A5000; used only where nothing is measurable
    meter: str = "auto"  # auto | nvml | rapl | pyjoules | estimated
    input: str = "random"  # random | test (the test split's mels, tiled to the probe length)
    trace_hz: float = 10.0  # power (and temperature) samples per second during every window
    max_energy_spread: float = 0.10  # unstable above: relative std of J per workload across load windows
    max_thermal_drift_celsius: float = 5.0  # unstable above: warming from the first load window to the last

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.max_energy_spread, self.max_thermal_drift_celsius)


def probe_mel(model: Vocoder, clips: int, frames: int, device: torch.device) -> torch.Tensor:
    """A fixed, normalised-range mel input: cost does not depend on the mel's content."""
    generator = torch.Generator().manual_seed(0)
    return torch.rand(clips, model.n_mels, frames, generator=generator).to(device)


def tiled_test_mel(test_features: str | Path, clips: int, frames: int, device: torch.device) -> torch.Tensor:
    """``clips`` mels of ``frames`` frames from the test split: its (cropped) mels joined end to end in
    split order and tiled until long enough, as the paper generated real clips."""
    _, mel, _ = load_split(test_features)
    stream = np.concatenate(list(mel), axis=-1)  # (n_mels, total frames)
    needed = clips * frames
    stream = np.tile(stream, (1, -(-needed // stream.shape[-1])))[:, :needed]
    return torch.from_numpy(np.ascontiguousarray(stream.reshape(mel.shape[1], clips, frames).transpose(1, 0, 2))).to(
        device
    )


def measure_cost(
    model: Vocoder,
    probe: ProbeSettings,
    device: torch.device,
    test_features: str | Path | None = None,
    setting: Setting = PAPER,
    flops: dict | None = None,
    nvml=None,
) -> dict:
    """Counting and measuring are separate passes (a counter must never run while energy is measured).
    ``setting``: how the model is run (the paper's way by default); ``flops``: a count already made for
    this model (a sweep counts once; FLOPs do not depend on the setting). Raises
    ``SettingUnavailable`` for a setting this machine cannot run."""
    model.to(device)
    model.prepare_inference()
    seconds_per_frame = model.hop_length / model.sample_rate

    if flops is None:
        flops = count_generate_flops(model, probe_mel(model, 1, probe.flops_frames, device))
    flop_audio_seconds = probe.flops_frames * seconds_per_frame

    frames = max(1, round(probe.seconds / seconds_per_frame))
    if probe.input == "test":
        if test_features is None:
            raise ValueError("measurement.input: test needs the test split's features")
        mel = tiled_test_mel(test_features, probe.clips, frames, device)
        source = f"the test split's mels ({test_features}) joined and tiled to {probe.clips} x {frames} frames"
    elif probe.input == "random":
        mel = probe_mel(model, probe.clips, frames, device)
        source = "uniform random mel in [0, 1] (cost does not depend on content)"
    else:
        raise ValueError(f"measurement.input: {probe.input!r} is not one of {', '.join(PROBE_INPUTS)}")
    audio_seconds = probe.clips * frames * seconds_per_frame
    meter = select_meter(probe.meter, device, probe.assumed_watts)
    trace = TraceSampler.for_device(probe.meter, device, probe.assumed_watts, probe.trace_hz)
    reset_peak_memory(device)
    with deployed(model, setting, device, nvml=nvml) as run:
        measured = measure_workload(
            lambda: run(mel),
            device,
            meter=meter,
            windows=probe.windows,
            min_window_seconds=probe.min_window_seconds,
            warmup=probe.warmup,
            cooldown_seconds=probe.cooldown_seconds,
            trace=trace,
        )
    memory = peak_memory(device)
    energy = energy_section(measured, audio_seconds, probe.clips)
    energy["stability"] = stability(measured["load_windows"], trace.windows, probe.thresholds)
    return {
        "family": model.family,
        "parameters": {"value": model.num_parameters(), "unit": "count", "method": "counted"},
        "flops": {
            "per_audio_second": flops["flops"] / flop_audio_seconds,
            "per_clip": flops["flops"],
            "macs_per_audio_second": flops["macs"] / flop_audio_seconds,
            "clip_frames": probe.flops_frames,
            "clip_seconds": flop_audio_seconds,
            "sample_rate": model.sample_rate,
            "unit": "FLOP",
            "method": "counted (torch FlopCounterMode, 2 x MACs of matmul/conv, whole generate())",
            "counted_on": "shapes only (meta device)" if flops["device"] == "meta" else flops["device"],
            "by_operator": flops["by_operator"],
        },
        "time": {
            "real_time_factor": measured["seconds_per_workload"] / audio_seconds,
            "seconds_per_workload": measured["seconds_per_workload"],
            "seconds_per_workload_ci95": measured["seconds_per_workload_ci95"],
            "unit": "s",
            "method": "measured",
        },
        "energy": energy,
        "memory": {"peak_bytes": memory["bytes"], "unit": "B", "method": memory["method"]},
        "workload": {
            "clips": probe.clips,
            "frames_per_clip": frames,
            "audio_seconds": audio_seconds,
            "batch_size": setting.clips_per_call or probe.clips,
            "dtype": DTYPE_NAMES[setting.precision],
            "repeats_per_window": measured["repeats_per_window"],
            "input": source,
        },
        "context": machine_context(device),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "probe": asdict(probe),
        "setting": setting.as_dict(),
        "trace": trace.document(),
    }


def _per(value: float | None, divisor: float) -> float | None:
    return None if value is None else value / divisor


def energy_section(measured: dict, audio_seconds: float, clips: int) -> dict:
    """Gross energy at the top (as before), idle and net beside it, each per workload, per second of audio
    and per clip with its 95 % interval; then what measured it and every flag raised."""

    def amounts(prefix: str) -> dict:
        mean, ci = measured[f"{prefix}joules_per_workload"], measured[f"{prefix}joules_per_workload_ci95"]
        return {
            "joules_per_audio_second": _per(mean, audio_seconds),
            "joules_per_audio_second_ci95": _per(ci, audio_seconds),
            "joules_per_workload": mean,
            "joules_per_workload_ci95": ci,
            "joules_per_clip": _per(mean, clips),
        }

    return {
        **amounts(""),
        "average_watts": measured["average_watts"],
        "idle": amounts("idle_") | {"watts": measured["idle_watts"], "watts_ci95": measured["idle_watts_ci95"]},
        "net": amounts("net_")
        | {"method": measured["net_method"], "unavailable_reason": measured["net_unavailable_reason"]},
        "unit": "J",
        "method": measured["method"],
        "backend": measured["backend"],
        "domains": measured["domains"],
        "assumed_watts": measured["assumed_watts"],
        "estimate_reason": measured["estimate_reason"],
        "counter_update_period_s": measured["counter_update_period_s"],
        "power_limit_watts": measured["power_limit_watts"],
        "flags": measured["flags"],
        "windows": {key: measured[key] for key in ("load_windows", "idle_windows", "cooldown_seconds")},
    }
