"""``batch_size: auto``: the largest power-of-two batch whose real training step fits on the GPU.

Safety margin: a batch counts as fitting only if its step ran without running out of memory *and* its
peak memory left ``HEADROOM`` (15 %) of the device free - room for fragmentation over a long run, the
occasional longer clip, and validation. On a CPU ``auto`` means the config's ``auto_batch_fallback``.

The search trains a throwaway copy of the model and restores the random number generators, so the run
itself is the same as one started with the batch size found.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from vocoder_energy.training import precision as numeric

HEADROOM = 0.15


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


def largest_fitting_batch(
    try_step: Callable[[int], int],
    capacity_bytes: int | None,
    limit: int,
    log=print,
) -> int:
    """Double from 1 until a step fails or ``limit`` is reached; returns the last fitting size.

    ``try_step(batch)`` runs one training step and returns its peak memory in bytes, or raises an
    out-of-memory error. ``capacity_bytes`` None: no headroom check (only the error counts).
    """
    fitting, batch = 0, 1
    while batch <= limit:
        try:
            peak = try_step(batch)
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            log(f"batch size {batch}: out of memory")
            break
        if capacity_bytes is not None and peak > (1 - HEADROOM) * capacity_bytes:
            log(f"batch size {batch}: fits, but peak {peak / 2**30:.2f} GiB leaves < {HEADROOM:.0%} headroom")
            break
        log(f"batch size {batch}: fits" + (f" (peak {peak / 2**30:.2f} GiB)" if capacity_bytes else ""))
        fitting, batch = batch, batch * 2
    if not fitting:
        raise RuntimeError("batch_size auto: not even a batch of 1 fits in memory; use a smaller model size")
    return fitting


def search_batch_size(
    model, audio: torch.Tensor, mel: torch.Tensor, device: torch.device, precision: str = "fp32", log=print
) -> int:
    """Real training steps of a copy of ``model`` (still untrained, on the CPU) on ``device``, at the run's
    precision (autocast changes the activations' memory)."""
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    trial = copy.deepcopy(model).to(device)
    trial.train()
    trial.setup_training()
    # fp16's loss scaler changes no memory, but a step it skips for overflow would leave the optimizer's
    # state unallocated and the peak too low: the trial steps unscaled, so every one of them steps.
    trial.grad_scaler = numeric.gradient_scaler("fp32", device)

    def try_step(batch: int) -> int:
        torch.cuda.reset_peak_memory_stats(device)
        index = torch.arange(batch) % len(audio)
        with numeric.autocast(precision, device):
            trial.training_step(audio[index].to(device), mel[index].to(device))
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device)

    try:
        capacity = torch.cuda.get_device_properties(device).total_memory
        return largest_fitting_batch(try_step, capacity, limit=len(audio), log=log)
    finally:
        trial = None  # noqa: F841 - frees the copy before the run allocates
        torch.cuda.empty_cache()
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


def resolve_batch_size(requested: int | str, fallback: int, search: Callable[[], int] | None) -> int:
    """A number is kept; ``auto`` runs ``search`` (the CUDA search on CUDA) or takes ``fallback`` without one."""
    if requested != "auto":
        return int(requested)
    return search() if search is not None else fallback
