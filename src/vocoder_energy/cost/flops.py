"""FLOPs of the whole inference path (sampling loops, flow inverses), counted by PyTorch itself."""

from __future__ import annotations

import copy
import warnings

import torch
from torch.utils.flop_counter import FlopCounterMode

from vocoder_energy.models import Vocoder


def count_generate_flops(model: Vocoder, mel: torch.Tensor) -> dict:
    """FLOPs (2 x MACs of matmul/conv ops) of one ``generate(mel)`` call, by operator.

    Counted on a copy on the meta device where the model runs there: the counts depend on shapes only, and
    no arithmetic is done (WaveGrad's 50 steps take a third of the time). A model whose inference reads
    values (``.item()``, NumPy) cannot run on shapes alone and is counted on ``mel``'s device; ``device``
    in the result says which.
    """
    model.prepare_inference()
    try:
        return _count(copy.deepcopy(model).to("meta"), mel.to("meta")) | {"device": "meta"}
    except (NotImplementedError, RuntimeError):
        return _count(model, mel) | {"device": str(mel.device)}


def _count(model: Vocoder, mel: torch.Tensor) -> dict:
    # mkldnn off where the model has recurrent layers: the counter does not see CPU LSTMs run by mkldnn.
    # Elsewhere it stays on: the counts are the same and convolutions without it run 1.5x slower.
    # (Toggling it warns about TF32.)
    recurrent = any(isinstance(module, torch.nn.RNNBase) for module in model.modules())
    with (
        warnings.catch_warnings(action="ignore", category=UserWarning),
        torch.backends.mkldnn.flags(enabled=not recurrent),
        FlopCounterMode(display=False) as counter,
    ):
        model.generate(mel, seed=0)
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    total = int(counter.get_total_flops())
    return {"flops": total, "macs": total // 2, "by_operator": by_op}
