"""What a trained vocoder costs to run: parameters, FLOPs, time, real-time factor and energy."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass

import torch

from .energy import find_meter, measure_workload
from .flops import count_generate_flops
from .models import Vocoder


@dataclass(frozen=True)
class ProbeSettings:
    clips: int = 10  # the paper: 10 clips of 10 s
    seconds: float = 10.0
    flops_frames: int = 64  # Table 2 counted one 64-frame (16,384-sample) mel
    windows: int = 10
    min_window_seconds: float = 5.0
    warmup: int = 1
    assumed_watts: float = 300.0  # the paper's estimate for its A5000; used only where nothing is measurable


def probe_mel(model: Vocoder, clips: int, frames: int, device: torch.device) -> torch.Tensor:
    """A fixed, normalised-range mel input: cost does not depend on the mel's content."""
    generator = torch.Generator().manual_seed(0)
    return torch.rand(clips, model.n_mels, frames, generator=generator).to(device)


def measure_cost(model: Vocoder, probe: ProbeSettings, device: torch.device) -> dict:
    """Counting and measuring are separate passes (a counter must never run while energy is measured)."""
    model.to(device)
    model.prepare_inference()
    seconds_per_frame = model.hop_length / model.sample_rate

    flop_mel = probe_mel(model, 1, probe.flops_frames, device)
    flops = count_generate_flops(model, flop_mel)
    flop_audio_seconds = probe.flops_frames * seconds_per_frame

    frames = max(1, round(probe.seconds / seconds_per_frame))
    mel = probe_mel(model, probe.clips, frames, device)
    audio_seconds = probe.clips * frames * seconds_per_frame
    measured = measure_workload(
        lambda: model.generate(mel, seed=0),
        device,
        meter=find_meter(device),
        windows=probe.windows,
        min_window_seconds=probe.min_window_seconds,
        warmup=probe.warmup,
        assumed_watts=probe.assumed_watts,
    )
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
            "by_operator": flops["by_operator"],
        },
        "time": {
            "real_time_factor": measured["seconds_per_workload"] / audio_seconds,
            "seconds_per_workload": measured["seconds_per_workload"],
            "seconds_per_workload_ci95": measured["seconds_per_workload_ci95"],
            "unit": "s",
            "method": "measured",
        },
        "energy": {
            "joules_per_audio_second": measured["joules_per_workload"] / audio_seconds,
            "joules_per_workload": measured["joules_per_workload"],
            "joules_per_workload_ci95": measured["joules_per_workload_ci95"],
            "joules_per_clip": measured["joules_per_workload"] / probe.clips,
            "average_watts": measured["average_watts"],
            "unit": "J",
            "method": measured["method"],
            "domains": measured["domains"],
            "assumed_watts": measured["assumed_watts"],
            **({"warning": measured["warning"]} if "warning" in measured else {}),
        },
        "workload": {
            "clips": probe.clips,
            "frames_per_clip": frames,
            "audio_seconds": audio_seconds,
            "batch_size": probe.clips,
            "dtype": "float32",
            "repeats_per_window": measured["repeats_per_window"],
            "input": "uniform random mel in [0, 1] (cost does not depend on content)",
        },
        "context": machine_context(device),
        "probe": asdict(probe),
    }


def machine_context(device: torch.device) -> dict:
    context = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        context.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda)
    return context
