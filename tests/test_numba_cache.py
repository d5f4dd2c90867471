"""The lock that keeps two processes from filling numba's cache at once (numba issue #10128)."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from vocoder_energy.evaluation import metrics, numba_cache

HOLDER = """
import sys, time
from pathlib import Path
from vocoder_energy.evaluation.numba_cache import first_call_lock
marks = Path(sys.argv[2])
with first_call_lock(sys.argv[1]):
    (marks / "entered").touch()
    time.sleep(1.0)
    (marks / "left").touch()
"""


def hold_lock_in_another_process(package, marks):
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(package), str(marks)])
    deadline = time.monotonic() + 60
    while not (marks / "entered").exists():
        assert child.poll() is None and time.monotonic() < deadline, "the child never took the lock"
        time.sleep(0.02)
    return child


def test_a_first_call_waits_for_another_process_filling_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(numba_cache, "_warm", set())
    package = tmp_path / "package"
    (package / "__pycache__").mkdir(parents=True)
    child = hold_lock_in_another_process(package, tmp_path)
    with numba_cache.first_call_lock(package):
        left_before_we_entered = (tmp_path / "left").exists()
    child.wait(timeout=60)
    assert left_before_we_entered
    assert numba_cache.lock_path(package) == package / "__pycache__" / numba_cache.LOCK_NAME


def test_later_calls_do_not_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(numba_cache, "_warm", set())
    package = tmp_path / "package"
    package.mkdir()
    with numba_cache.first_call_lock(package):
        pass
    child = hold_lock_in_another_process(package, tmp_path)
    entered = threading.Event()

    def second_call():
        with numba_cache.first_call_lock(package):
            entered.set()

    threading.Thread(target=second_call, daemon=True).start()
    assert entered.wait(timeout=0.5), "a second call in the same process waited for the lock"
    assert not (tmp_path / "left").exists()
    child.wait(timeout=60)


def test_pyin_runs_under_the_lock(monkeypatch):
    calls = []

    class Recorder:
        def __init__(self, package_dir):
            calls.append(package_dir)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(metrics, "first_call_lock", Recorder)
    tone = np.sin(2 * np.pi * 220 * np.arange(8000) / 16000)
    metrics.f0_track(tone, 16000)
    assert [path.name for path in calls] == ["librosa"]


@pytest.mark.slow
def test_the_installation_warm_up_fills_numbas_cache_on_disk(tmp_path):
    """`make` runs it after installing: the quality jobs then load pYIN's compiled functions (about 1.5 s)
    instead of compiling them (about 20 s) in the first job while the others wait on the lock."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "vocoder_energy.evaluation.warm_up"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "pYIN compiled and cached" in done.stdout
    indexes = {path.name.split(".py311")[0] for path in tmp_path.rglob("*.nbi")}
    assert any(name.startswith("pitch.") for name in indexes), indexes  # pYIN's own numba functions
