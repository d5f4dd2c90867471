"""Each GPU job on a shared machine gets its own GPU, and a killed job's GPU is free again."""

import os
import signal
import subprocess
import sys
import time

from vocoder_energy.core.gpu_lease import gpu_lease

# A job that leases one of two fake GPUs, says which, and holds it until told to stop.
HOLDER = """
import sys, time
from pathlib import Path
from vocoder_energy.core.gpu_lease import gpu_lease
with gpu_lease(sys.argv[1], device_count=2, poll_seconds=0.05, log=lambda m: None) as device:
    Path(sys.argv[2]).write_text(str(device))
    while not Path(sys.argv[3]).exists():
        time.sleep(0.05)
"""


def hold(tmp_path, name):
    said, stop = tmp_path / f"{name}.device", tmp_path / f"{name}.stop"
    job = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "leases"), str(said), str(stop)])
    return job, said, stop


def device_of(job, said, timeout=120):
    deadline = time.monotonic() + timeout
    while not said.exists() or not said.read_text():
        assert job.poll() is None and time.monotonic() < deadline, "the job ended without a device"
        time.sleep(0.05)
    return said.read_text()


def test_two_concurrent_jobs_get_different_gpus_and_a_killed_holder_frees_its_gpu(tmp_path):
    first, first_said, first_stop = hold(tmp_path, "first")
    second, second_said, second_stop = hold(tmp_path, "second")
    devices = {device_of(first, first_said), device_of(second, second_said)}
    assert devices == {"cuda:0", "cuda:1"}

    third, third_said, third_stop = hold(tmp_path, "third")  # both leased: it waits
    time.sleep(1.0)
    assert not third_said.exists() and third.poll() is None
    os.kill(first.pid, signal.SIGKILL)  # no cleanup runs: the kernel drops the lock
    first.wait()
    assert device_of(third, third_said) == first_said.read_text()

    for stop, job in ((second_stop, second), (third_stop, third)):
        stop.touch()
        assert job.wait(timeout=60) == 0


def test_without_gpus_the_job_runs_on_the_cpu(tmp_path):
    with gpu_lease(tmp_path, device_count=0) as device:
        assert device.type == "cpu"
    assert not list(tmp_path.iterdir())  # nothing to lease


def test_a_lease_is_released_when_the_job_ends(tmp_path):
    with gpu_lease(tmp_path, device_count=1, log=lambda m: None) as device:
        assert str(device) == "cuda:0"
    with gpu_lease(tmp_path, device_count=1, poll_seconds=0.01, log=lambda m: None) as device:
        assert str(device) == "cuda:0"


def test_leases_are_named_by_the_physical_gpu_of_cuda_visible_devices(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with gpu_lease(tmp_path, device_count=2, log=lambda m: None) as first:
        with gpu_lease(tmp_path, device_count=2, log=lambda m: None) as second:
            assert (str(first), str(second)) == ("cuda:0", "cuda:1")
            assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu-2.lock", "gpu-3.lock"]
