"""Measure one model under every setting of a sweep, in one process: the paper's setting first (the
baseline every ratio is taken against), FLOPs counted once (they do not depend on how the model runs)."""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm import tqdm

from vocoder_energy.cost.flops import count_generate_flops
from vocoder_energy.cost.probe import ProbeSettings, measure_cost, probe_mel
from vocoder_energy.deployment.power_limit import SettingUnavailable
from vocoder_energy.deployment.settings import Setting
from vocoder_energy.models import Vocoder


def skipped(setting: Setting, reason: str) -> dict:
    return {"setting": setting.as_dict(), "status": "skipped", "reason": reason, "cost": None}


def measure_setting(model: Vocoder, setting: Setting, probe: ProbeSettings, device: torch.device, **kwargs) -> dict:
    """One point: measured, or skipped with the reason (a setting this machine cannot run, memory that
    runs out, a compiler that fails). Any other error is a bug and propagates."""
    try:
        cost = measure_cost(model, probe, device, setting=setting, **kwargs)
    except SettingUnavailable as err:
        return skipped(setting, str(err))
    except torch.OutOfMemoryError as err:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return skipped(setting, f"out of memory at {setting.clips_per_call or probe.clips} clips per call ({err})")
    except Exception as err:
        if setting.compile == "eager":
            raise
        return skipped(setting, f"compilation failed ({type(err).__name__}: {str(err).splitlines()[0][:300]})")
    return {"setting": setting.as_dict(), "status": "measured", "reason": None, "cost": cost}


def measure_sweep(
    model: Vocoder,
    settings: list[Setting],
    probe: ProbeSettings,
    device: torch.device,
    test_features: str | Path | None = None,
    nvml=None,
) -> dict:
    model.to(device)
    model.prepare_inference()
    flops = count_generate_flops(model, probe_mel(model, 1, probe.flops_frames, device))
    points = [
        measure_setting(model, setting, probe, device, test_features=test_features, flops=flops, nvml=nvml)
        for setting in tqdm(settings, desc=f"deployment sweep ({model.family})", unit=" settings")
    ]
    return {"family": model.family, "points": points}
