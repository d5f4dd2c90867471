"""What a measurement ran on: device, versions, threads, and the workload's peak memory."""

from __future__ import annotations

import os
import platform
import resource
from pathlib import Path

import torch

from vocoder_energy.cost.meters.nvml import gpu_context


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's marketing name ("model name" in /proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_context(device: torch.device) -> dict:
    context = {
        "device": str(device),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        context["gpu"] = {"cuda_name": torch.cuda.get_device_name(index)} | gpu_context(index)
    return context


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> dict:
    """Peak memory since ``reset_peak_memory``: tensors CUDA allocated on a GPU; on a CPU the process's
    peak resident set, which cannot be reset (it includes loading the model and every pass before)."""
    if device.type == "cuda":
        return {
            "bytes": torch.cuda.max_memory_allocated(device),
            "method": "measured (torch.cuda.max_memory_allocated over the measured workloads)",
        }
    # ru_maxrss is in kilobytes on Linux.
    return {
        "bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "method": "measured (process peak RSS: includes the model, the FLOP count and every workload)",
    }
