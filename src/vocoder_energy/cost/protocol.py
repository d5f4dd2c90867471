"""The measurement protocol: warm-up, an idle baseline, windows of repeated workloads, sanity flags, 95 % CIs.

Gross energy is what the meter counted while the workload ran; idle energy is the device's idle power
(measured just before, over as many windows of the same length, nothing running) times the workload's
time; net = gross - idle. With an ``estimated`` meter there is no counter, so no idle power either:
net energy is reported as unavailable rather than made up.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
from tqdm import tqdm

from vocoder_energy.core.intervals import t_half_width, welch_half_width
from vocoder_energy.cost.meters.estimated import EstimatedMeter


@dataclass
class Window:
    phase: str  # "idle" or "load"
    seconds: float
    joules: float
    repeats: int  # workload calls in the window (0 when idle)

    @property
    def watts(self) -> float:
        return self.joules / self.seconds if self.seconds > 0 else math.nan


def window_flags(window: Window, index: int, meter, idle_floor_watts: float | None) -> list[dict]:
    """What makes one window untrustworthy; flagged windows stay in the averages, visibly."""
    if meter.method != "measured":
        return []
    where = {"phase": window.phase, "window": index}
    flags = []
    if window.seconds < meter.update_period_s:
        flags.append(
            where
            | {
                "flag": "short_window",
                "detail": f"{window.seconds:.3g} s < the counter's update period of {meter.update_period_s} s",
            }
        )
    if window.joules <= 0:
        flags.append(
            where
            | {
                "flag": "non_positive_delta",
                "detail": f"{window.joules:.6g} J: a window shorter than the counter's update or a counter reset",
            }
        )
    if window.phase == "load" and idle_floor_watts is not None and window.watts < idle_floor_watts:
        flags.append(
            where | {"flag": "below_idle_power", "detail": f"{window.watts:.4g} W < idle {idle_floor_watts:.4g} W"}
        )
    limit = meter.power_limit_watts
    if limit is not None and window.watts > limit:
        flags.append(where | {"flag": "above_power_limit", "detail": f"{window.watts:.4g} W > limit {limit:.4g} W"})
    return flags


def _sample(meter) -> tuple[float, float]:
    """(joules, seconds) at one instant: a counter is read right after the clock; an estimate is computed
    at the clock's own reading, so estimated energy is exactly elapsed time x assumed watts."""
    now = time.perf_counter()
    joules = meter.joules_at(now) if hasattr(meter, "joules_at") else meter.read()
    return joules, now


def _window_record(window: Window) -> dict:
    return asdict(window) | {"watts": window.watts}


def measure_workload(
    workload: Callable[[], object],
    device: torch.device,
    meter=None,
    windows: int = 10,
    min_window_seconds: float = 5.0,
    warmup: int = 1,
    cooldown_seconds: float = 0.0,
    idle_baseline: bool = True,
    assumed_watts: float = 300.0,
    trace=None,
) -> dict:
    """Energy and time of one ``workload`` call: warm up, idle windows, then ``windows`` load windows.

    Each load window repeats the workload until it lasts ``min_window_seconds`` (energy counters update
    slowly) and gives per-workload energy = window energy / repeats. Idle windows last as long as
    ``min_window_seconds`` or one warm-up call, whichever is longer (what a load window will last). A
    cooldown of ``cooldown_seconds`` precedes every window. ``meter=None`` estimates from
    ``assumed_watts``. CUDA is synchronised before every counter read, so a window holds its kernels.
    ``trace`` (a ``deployment.traces.TraceSampler``) samples power in the background during every window.
    """
    if meter is None:
        meter = EstimatedMeter(assumed_watts, reason="no meter given", clock=time.perf_counter)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def cooldown() -> None:
        if cooldown_seconds > 0:
            time.sleep(cooldown_seconds)

    def traced(phase: str, index: int):
        return trace.window(phase, index) if trace is not None else nullcontext()

    last_call = 0.0
    for _ in range(warmup):
        start = time.perf_counter()
        workload()
        sync()
        last_call = time.perf_counter() - start
    idle_seconds = max(min_window_seconds, last_call)

    idle: list[Window] = []
    measured = meter.method == "measured"
    if measured and idle_baseline:
        for index in tqdm(range(windows), desc=f"idle baseline ({meter.backend})", unit=" windows"):
            cooldown()
            sync()
            with traced("idle", index):
                energy0, time0 = _sample(meter)
                deadline = time0 + idle_seconds
                while (remaining := deadline - time.perf_counter()) > 0:
                    time.sleep(remaining)
                energy1, time1 = _sample(meter)
            idle.append(Window("idle", time1 - time0, energy1 - energy0, 0))

    load: list[Window] = []
    for index in tqdm(range(windows), desc=f"measure ({meter.backend})", unit=" windows"):
        cooldown()
        sync()
        with traced("load", index):
            (energy0, time0), count = _sample(meter), 0
            while True:
                workload()
                count += 1
                sync()
                if time.perf_counter() - time0 >= min_window_seconds:
                    break
            energy1, time1 = _sample(meter)
        load.append(Window("load", time1 - time0, energy1 - energy0, count))

    joules = [w.joules / w.repeats for w in load]
    seconds = [w.seconds / w.repeats for w in load]
    result = {
        "backend": meter.backend,
        "method": meter.method,
        "domains": list(meter.domains),
        "assumed_watts": getattr(meter, "assumed_watts", None),
        "estimate_reason": getattr(meter, "reason", None),
        "counter_update_period_s": meter.update_period_s,
        "power_limit_watts": meter.power_limit_watts,
        "joules_per_workload": statistics.fmean(joules),
        "joules_per_workload_ci95": t_half_width(joules),
        "seconds_per_workload": statistics.fmean(seconds),
        "seconds_per_workload_ci95": t_half_width(seconds),
        "average_watts": statistics.fmean(joules) / statistics.fmean(seconds),
        "windows": windows,
        "repeats_per_window": [w.repeats for w in load],
        "cooldown_seconds": cooldown_seconds,
        "load_windows": [_window_record(w) for w in load],
        "idle_windows": [_window_record(w) for w in idle],
    } | _idle_and_net(meter, idle, load)
    floor = result["idle_watts"]
    if floor is not None and not math.isnan(result["idle_watts_ci95"]):
        floor -= result["idle_watts_ci95"]  # below the interval, not merely below the mean
    result["flags"] = [f for i, w in enumerate(idle) for f in window_flags(w, i, meter, None)] + [
        f for i, w in enumerate(load) for f in window_flags(w, i, meter, floor)
    ]
    return result


def _idle_and_net(meter, idle: list[Window], load: list[Window]) -> dict:
    if not idle:
        reason = (
            "estimated energy: without a counter there is no idle power to subtract"
            if meter.method != "measured"
            else "idle baseline switched off"
        )
        return {
            "idle_watts": None,
            "idle_watts_ci95": None,
            "idle_window_seconds": None,
            "idle_joules_per_workload": None,
            "idle_joules_per_workload_ci95": None,
            "net_method": "unavailable",
            "net_unavailable_reason": reason,
            "net_joules_per_workload": None,
            "net_joules_per_workload_ci95": None,
        }
    idle_watts = [w.watts for w in idle]
    p_idle = statistics.fmean(idle_watts)
    t_workload = statistics.fmean(w.seconds / w.repeats for w in load)
    # Per load window: its gross energy less idle power over its own duration, per workload.
    net = [(w.joules - p_idle * w.seconds) / w.repeats for w in load]
    # Idle energy over one workload's time as each idle window saw it: the idle side of the interval.
    idle_energy = [p * t_workload for p in idle_watts]
    return {
        "idle_watts": p_idle,
        "idle_watts_ci95": t_half_width(idle_watts),
        "idle_window_seconds": statistics.fmean(w.seconds for w in idle),
        "idle_joules_per_workload": p_idle * t_workload,
        "idle_joules_per_workload_ci95": t_half_width(idle_energy),
        "net_method": meter.method,
        "net_unavailable_reason": None,
        "net_joules_per_workload": statistics.fmean(net),
        "net_joules_per_workload_ci95": welch_half_width(net, idle_energy),
    }
