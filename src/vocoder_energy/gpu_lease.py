"""One GPU per job on a machine with several: a lease is an ``flock`` on a per-GPU lock file.

Snakemake's ``--resources gpu=N`` bounds how many GPU jobs run at once, but not which GPU each one
takes; the lease does. The kernel drops an ``flock`` when its process dies, even by SIGKILL, so a killed
job never keeps its GPU. Where a scheduler (Slurm) has set ``CUDA_VISIBLE_DEVICES``, the job uses what
it was given and takes no lease: the scheduler already made the choice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

LEASE_DIR_VARIABLE = "VOCODER_ENERGY_GPU_LEASES"


def default_lease_dir() -> Path:
    """Shared by every job of this user on this machine (configurable for tests and odd setups)."""
    configured = os.environ.get(LEASE_DIR_VARIABLE)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / f"vocoder-energy-gpu-leases-{os.getuid()}"


@contextlib.contextmanager
def gpu_lease(
    lease_dir: str | Path | None = None,
    device_count: int | None = None,
    poll_seconds: float = 1.0,
    log=print,
) -> Iterator[torch.device]:
    """The device this job uses, held for the ``with`` block: a free GPU, the scheduler's, or the CPU.

    ``device_count`` defaults to the CUDA devices visible (injected in tests). Waits while all are leased.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None and torch.cuda.is_available():
        log(f"GPU: cuda:0 of CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']} (given by the scheduler)")
        yield torch.device("cuda", 0)
        return
    count = torch.cuda.device_count() if device_count is None else device_count
    if count == 0:
        yield torch.device("cpu")
        return
    directory = Path(lease_dir) if lease_dir is not None else default_lease_dir()
    directory.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for index in range(count):
            lock_path = directory / f"gpu{index}.lock"
            handle = open(lock_path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(f"{os.getpid()}\n")  # who holds it, for a person looking
                handle.flush()
                log(f"GPU: cuda:{index} (lease {lock_path})")
                if torch.cuda.is_available():
                    torch.cuda.set_device(index)  # what bare "cuda" means in this process
                yield torch.device("cuda", index)
            finally:
                handle.close()  # releases the lock
            return
        if not waited:
            log(f"GPU: all {count} leased in {directory}; waiting for one to be free")
            waited = True
        time.sleep(poll_seconds)
