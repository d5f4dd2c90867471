"""Run a model as a deployment setting says: precision (autocast), clips per call, compiled or not, CPU
threads and GPU power limit, each undone when the block ends (an exception included)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext

import torch

from vocoder_energy.deployment.power_limit import SettingUnavailable, power_limit
from vocoder_energy.deployment.settings import Setting
from vocoder_energy.models import Vocoder

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(setting: Setting, device: torch.device):
    """Mixed precision as deployed: matrix products and convolutions in ``setting.precision``, the rest
    (noise schedules, flows' log-determinants, an iSTFT) left in fp32 by autocast's own op lists."""
    if setting.precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[setting.precision])


def compiled_network(model: Vocoder, mode: str) -> Callable[[], None]:
    """Compile what inference calls: a flow's ``inverse``, every other family's network ``forward``.
    Returns the function that undoes it."""
    network = model.generator
    method = "inverse" if hasattr(network, "inverse") else "forward"
    options = {"mode": "reduce-overhead"} if mode == "cuda_graphs" else {}
    setattr(network, method, torch.compile(getattr(network, method), **options))

    def undo() -> None:
        delattr(network, method)  # the instance attribute: the class's method shows through again
        torch._dynamo.reset()

    return undo


@contextmanager
def deployed(model: Vocoder, setting: Setting, device: torch.device, nvml=None) -> Iterator[Callable]:
    """Yields ``run(mel) -> audio`` (float32) under ``setting``; threads, the power limit and compilation
    are restored when the block ends. Raises ``SettingUnavailable`` for what this machine cannot do."""
    if setting.compile == "cuda_graphs" and device.type != "cuda":
        raise SettingUnavailable(f"CUDA graphs need a GPU; this job runs on {device}")
    if setting.precision == "fp16" and device.type == "cpu" and not torch.backends.mkldnn.is_available():
        raise SettingUnavailable("fp16 on a CPU needs oneDNN, which this torch build lacks")
    model.prepare_inference()
    with ExitStack() as stack:
        if setting.threads is not None:
            saved = torch.get_num_threads()
            torch.set_num_threads(setting.threads)
            stack.callback(torch.set_num_threads, saved)
        if setting.power_limit_watts is not None:
            stack.enter_context(power_limit(device, setting.power_limit_watts, nvml=nvml))
        if setting.compile != "eager":
            stack.callback(compiled_network(model, setting.compile))

        def run(mel: torch.Tensor, seed: int = 0) -> torch.Tensor:
            per_call = setting.clips_per_call or mel.shape[0]
            with autocast(setting, device):
                parts = [
                    model.generate(mel[start : start + per_call], seed=seed + start).float()
                    for start in range(0, mel.shape[0], per_call)
                ]
            return parts[0] if len(parts) == 1 else torch.cat(parts)

        yield run
