"""Building blocks shared by several families: one definition each."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vocoder_energy.models.base import weight_norm


def check_upsampling(family: str, name: str, factors: list[int], hop_length: int) -> None:
    """The generator must produce exactly ``hop_length`` samples per mel frame."""
    if math.prod(factors) != hop_length:
        raise ValueError(
            f"{family}: {name} {list(factors)} multiply to {math.prod(factors)}, hop_length is {hop_length}"
        )


class MelUpsampler2d(nn.Module):
    """Transposed 2-D convolutions over (mel band, frame), each stretching time by its stride s
    (kernel [3, 2s], padding [1, s/2]: T frames -> s*T), each followed by LeakyReLU(0.4).
    The upsampler of DiffWave (plain) and WaveFlow (weight-normed)."""

    def __init__(self, strides: list[int], weight_normed: bool = False, slope: float = 0.4):
        super().__init__()
        if any(s % 2 for s in strides):
            raise ValueError(f"upsampler strides must be even, got {strides}")
        norm = weight_norm if weight_normed else (lambda layer: layer)
        self.convs = nn.ModuleList(
            norm(nn.ConvTranspose2d(1, 1, (3, 2 * s), stride=(1, s), padding=(1, s // 2))) for s in strides
        )
        self.slope = slope

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel.unsqueeze(1)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.slope)
        return x.squeeze(1)


def linear_betas(start: float, end: float, steps: int) -> list[float]:
    """``steps`` noise levels evenly spaced from ``start`` to ``end`` (inclusive), in double precision."""
    # On the CPU explicitly: the values are needed even when a model is built on the meta device.
    return torch.linspace(float(start), float(end), int(steps), dtype=torch.float64, device="cpu").tolist()


def cumulative_alphas(betas: list[float]) -> list[float]:
    """alpha_bar_n = prod_(i <= n) (1 - beta_i) for n = 1..N, in double precision."""
    products, acc = [], 1.0
    for beta in betas:
        acc *= 1.0 - beta
        products.append(acc)
    return products
