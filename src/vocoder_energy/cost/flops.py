"""FLOPs of the whole inference path (sampling loops, flow inverses), counted by PyTorch itself.

PyTorch counts matmuls and convolutions (2 FLOPs per MAC); it has no formula for FFTs, which Vocos'
inverse STFT runs. We count each transform as the usual 5 N log2 N for a length-N FFT (the Cooley-Tukey
estimate, also for real-input and real-output transforms, which cost about half that in practice), under
the operator names ``aten._fft_*`` beside the others.
"""

from __future__ import annotations

import copy
import math
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


def _fft_flops(lengths: list[int], out_elements: int) -> int:
    """5 N log2 N per transform of N = prod(lengths) points; ``out_elements / N`` transforms."""
    n = math.prod(lengths)
    return 0 if n <= 1 else round(out_elements / n * 5 * n * math.log2(n))


def _transform_lengths(shape, dim) -> list[int]:
    return [shape[d] for d in dim]


def _fft_r2c(input_shape, dim, normalization, onesided, out_shape=None, **kwargs) -> int:
    lengths = _transform_lengths(input_shape, dim)
    return _fft_flops(lengths, math.prod(input_shape))


def _fft_c2r(input_shape, dim, normalization, last_dim_size, out_shape=None, **kwargs) -> int:
    lengths = _transform_lengths(out_shape, dim)
    return _fft_flops(lengths, math.prod(out_shape))


def _fft_c2c(input_shape, dim, normalization, forward, out_shape=None, **kwargs) -> int:
    lengths = _transform_lengths(input_shape, dim)
    return _fft_flops(lengths, math.prod(input_shape))


_aten = torch.ops.aten
FFT_FORMULAS = {_aten._fft_r2c: _fft_r2c, _aten._fft_c2r: _fft_c2r, _aten._fft_c2c: _fft_c2c}


def _count(model: Vocoder, mel: torch.Tensor) -> dict:
    # mkldnn off where the model has recurrent layers: the counter does not see CPU LSTMs run by mkldnn.
    # Elsewhere it stays on: the counts are the same and convolutions without it run 1.5x slower.
    # (Toggling it warns about TF32.)
    recurrent = any(isinstance(module, torch.nn.RNNBase) for module in model.modules())
    with (
        warnings.catch_warnings(action="ignore", category=UserWarning),
        torch.backends.mkldnn.flags(enabled=not recurrent),
        FlopCounterMode(display=False, custom_mapping=FFT_FORMULAS) as counter,
    ):
        model.generate(mel, seed=0)
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    total = int(counter.get_total_flops())
    return {"flops": total, "macs": total // 2, "by_operator": by_op}
