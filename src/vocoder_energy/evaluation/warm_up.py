"""Compile, once per installation, what the quality jobs would otherwise compile on first use.

librosa's pYIN (the ``f0`` metric) runs numba functions that take about 20 s of one core to compile and
are cached on disk beside librosa afterwards (1.5 s to load). ``make`` runs this after installing, so
that time is spent once, at installation, instead of inside the first quality job of every fresh
environment while the other quality jobs wait for it (``numba_cache``).

    python -m vocoder_energy.evaluation.warm_up
"""

from __future__ import annotations

import time

import numpy as np

from vocoder_energy.evaluation.metrics import f0_track


def warm_up(sample_rate: int = 16000) -> float:
    """Run pYIN on one second of a 150 Hz tone; returns the seconds it took."""
    started = time.perf_counter()
    tone = np.sin(2 * np.pi * 150.0 * np.arange(sample_rate) / sample_rate)
    f0_track(tone, sample_rate)
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"pYIN compiled and cached in {warm_up():.1f} s (numba's on-disk cache)")
