"""One GPU per job on a machine with several: a lease is an ``flock`` on a per-GPU lock file.

Snakemake's ``--resources gpu=N`` bounds how many GPU jobs run at once, but not which GPU each one
takes; the lease does. The kernel drops an ``flock`` when its process dies, even by SIGKILL, so a killed
job never keeps its GPU. Inside a Slurm job the job uses the GPU Slurm gave it (``CUDA_VISIBLE_DEVICES``)
and takes no lease: the scheduler already chose, and with device cgroups every job sees its GPU as "0".
Elsewhere a ``CUDA_VISIBLE_DEVICES`` a person set limits the GPUs leased; lock files are named by the
physical device, so two jobs with the same visible list still get different GPUs.
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
    Index ``i`` of the visible devices is leased as the ``i``-th entry of ``CUDA_VISIBLE_DEVICES`` (or ``i``).
    """
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if os.environ.get("SLURM_JOB_ID") and given and torch.cuda.is_available():
        log(f"GPU: cuda:0 of CUDA_VISIBLE_DEVICES={given} (given by Slurm job {os.environ['SLURM_JOB_ID']})")
        yield torch.device("cuda", 0)
        return
    count = torch.cuda.device_count() if device_count is None else device_count
    if count == 0:
        yield torch.device("cpu")
        return
    names = given.split(",")[:count] if given else [str(index) for index in range(count)]
    directory = Path(lease_dir) if lease_dir is not None else default_lease_dir()
    directory.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for index, name in enumerate(names):
            lock_path = directory / f"gpu-{name.strip()}.lock"
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
