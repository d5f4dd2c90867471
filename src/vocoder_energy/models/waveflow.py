"""WaveFlow (Ping et al., 2020): autoregressive flow over a 2-D squeezed waveform, 2-D dilated WaveNets.

Audio of length T is squeezed column-major into an ``height x T/height`` matrix: element (j, i) is
sample ``i * height + j``, so the height axis runs over adjacent samples and is the autoregressive axis,
while the width axis (groups of ``height`` samples) is processed in parallel. Each of the ``n_flows``
flows copies row 0 unchanged and transforms rows 1 .. H-1 by ``z = x * exp(log_s) + t``, whose
``log_s``/``t`` at row ``i`` come from a 2-D WaveNet (causal along height, non-causal along width) that
sees rows ``< i`` and conditioning row ``i`` of the upsampled mel (the original code's layout).
The height order is reversed after every flow (the "no bipartization" permutation).

Layer set, per flow (all convolutions with bias; weight norm on every one but the zero-initialised
output projection): a 1x1 input projection 1 -> C; ``n_layers`` residual layers, each with one 3x3
dilated convolution C -> 2C (filter and gate halves), a 1x1 mel projection n_mels -> 2C, and one fused
1x1 residual-and-skip convolution C -> 2C (the last layer keeps its residual half, as in the reference
code); the residual sum is not rescaled; the summed skips go to a plain 1x1 output projection C -> 2
(log_s, t), zero-initialised.
The mel upsampler is two weight-normed ConvTranspose2d(1, 1, (3, 2s), stride (1, s), padding (1, s/2)),
s = 16, each followed by LeakyReLU(0.4). Counted with weight-norm g and v this gives
1280 C^2 + 11048 C + 212 parameters at 80 mels: 5,950,164 (C=64), 12,857,300 (C=96), 22,385,876 (C=128).

Training: Gaussian NLL with sigma 1, per element; Adam lr 2e-4; gradient-norm clip 5.
Generation inverts the flows row by row, either with per-layer convolution caches ("cached", one row of
compute per row) or by re-running the whole 2-D WaveNet on all rows generated so far ("naive", the
computation the paper's FLOP figures count). Both give the same audio, ``frames * hop_length`` samples
(the original reverse passes drop the last 3 frames' samples; we keep them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from vocoder_energy.models.base import Vocoder, weight_norm
from vocoder_energy.models.blocks import MelUpsampler2d, check_upsampling

REVERSE_MODES = ("cached", "naive")


def squeeze_audio(audio: torch.Tensor, height: int) -> torch.Tensor:
    """(B, T) -> (B, 1, height, T / height), column-major: out[b, 0, j, i] = audio[b, i * height + j]."""
    batch, length = audio.shape
    return audio.reshape(batch, length // height, height).transpose(1, 2).unsqueeze(1)


def unsqueeze_audio(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, height, W) -> (B, height * W), the inverse of ``squeeze_audio``."""
    batch, _, height, width = x.shape
    return x.squeeze(1).transpose(1, 2).reshape(batch, height * width)


def squeeze_condition(cond: torch.Tensor, height: int) -> torch.Tensor:
    """(B, C, T) -> (B, C, height, T / height), laid out like ``squeeze_audio``."""
    batch, channels, length = cond.shape
    return cond.reshape(batch, channels, length // height, height).transpose(2, 3)


class ResidualLayer(nn.Module):
    """Gated 2-D dilated convolution, causal along height, conditioned on the squeezed mel.

    The residual and skip 1x1 convolutions are one convolution C -> 2C whose output is split (residual
    half first), as in the original: the same parameters and arithmetic as two, one call fewer.
    """

    def __init__(self, channels: int, n_mels: int, kernel_size: int, dilation_h: int, dilation_w: int):
        super().__init__()
        self.channels = channels
        self.context = (kernel_size - 1) * dilation_h  # rows of history the convolution needs
        self.conv = weight_norm(
            nn.Conv2d(
                channels,
                2 * channels,
                kernel_size,
                dilation=(dilation_h, dilation_w),
                padding=(0, (kernel_size - 1) * dilation_w // 2),
            )
        )
        self.cond = weight_norm(nn.Conv2d(n_mels, 2 * channels, 1))
        self.res_skip = weight_norm(nn.Conv2d(channels, 2 * channels, 1))

    def _gate(self, conv_out: torch.Tensor, cond: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        filt, gate = (conv_out + cond).chunk(2, dim=1)
        residual, skip = self.res_skip(torch.tanh(filt) * torch.sigmoid(gate)).chunk(2, dim=1)
        return h + residual, skip  # no sqrt(0.5) scaling of the sum (the original has none)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """All rows at once; ``cond`` is this layer's mel projection for the same rows."""
        return self._gate(self.conv(F.pad(h, (0, 0, self.context, 0))), cond, h)

    def step(self, window: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One new row: ``window`` holds ``context`` past input rows then the new row."""
        return self._gate(self.conv(window), cond, window[:, :, -1:])


class Flow(nn.Module):
    """One affine autoregressive flow along height, parameterised by a 2-D WaveNet.

    Row 0 passes through unchanged; row i >= 1 is scaled and shifted by log_s, t that the WaveNet
    computes from rows 0 .. i-1 and conditioning row i. So the WaveNet sees the input rows 0 .. H-2
    against the conditioning rows 1 .. H-1, and its output row j belongs to row j + 1.
    """

    def __init__(
        self,
        channels: int,
        n_mels: int,
        n_layers: int,
        kernel_size: int,
        height_dilation_cycle: int,
    ):
        super().__init__()
        self.channels = channels
        self.front = weight_norm(nn.Conv2d(1, channels, 1))
        self.layers = nn.ModuleList(
            ResidualLayer(channels, n_mels, kernel_size, 2 ** (i % height_dilation_cycle), 2**i)
            for i in range(n_layers)
        )
        self.proj = nn.Conv2d(channels, 2, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def project_condition(self, cond: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's 1x1 mel projection of ``cond`` (all rows), computed once per inverse pass."""
        return [layer.cond(cond) for layer in self.layers]

    def wavenet(self, x_rows: torch.Tensor, conds: Iterable[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """log_s, t for every row of ``x_rows``: output row j sees input rows <= j (causal along height).
        ``conds`` yields each layer's mel projection for the rows the outputs belong to."""
        h = self.front(x_rows)
        skip = None
        for layer, cond in zip(self.layers, conds):
            h, s = layer(h, cond)
            skip = s if skip is None else skip + s
        log_s, t = self.proj(skip).chunk(2, dim=1)
        return log_s, t

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 1, H, W) -> z (row 0 unchanged), per-item log-determinant."""
        below = cond[:, :, 1:]
        log_s, t = self.wavenet(x[:, :, :-1], (layer.cond(below) for layer in self.layers))
        z = torch.cat([x[:, :, :1], x[:, :, 1:] * torch.exp(log_s) + t], dim=2)
        return z, log_s.sum(dim=(1, 2, 3))

    def inverse_naive(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Row i: re-run the whole WaveNet on the i rows known so far, keep its last output row."""
        height = z.shape[2]
        conds = self.project_condition(cond)
        x = z[:, :, :1]
        for i in range(1, height):
            log_s, t = self.wavenet(x, [c[:, :, 1 : i + 1] for c in conds])
            row = (z[:, :, i : i + 1] - t[:, :, -1:]) * torch.exp(-log_s[:, :, -1:])
            x = torch.cat([x, row], dim=2)
        return x

    def inverse_cached(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Row i costs one row of compute: each layer keeps a queue of its past input rows."""
        batch, _, height, width = z.shape
        conds = self.project_condition(cond)
        queues = [z.new_zeros(batch, self.channels, layer.context, width) for layer in self.layers]
        prev = z[:, :, :1]
        rows = [prev]
        for i in range(1, height):
            h = self.front(prev)
            skip = None
            for k, layer in enumerate(self.layers):
                window = torch.cat([queues[k], h], dim=2)
                queues[k] = window[:, :, 1:]
                h, s = layer.step(window, conds[k][:, :, i : i + 1])
                skip = s if skip is None else skip + s
            log_s, t = self.proj(skip).chunk(2, dim=1)
            prev = (z[:, :, i : i + 1] - t) * torch.exp(-log_s)
            rows.append(prev)
        return torch.cat(rows, dim=2)


class Generator(nn.Module):
    def __init__(
        self,
        n_mels: int,
        upsample_scales: list[int],
        n_flows: int,
        n_layers: int,
        residual_channels: int,
        height: int,
        kernel_size: int,
        height_dilation_cycle: int,
    ):
        super().__init__()
        self.height = height
        self.upsampler = MelUpsampler2d(upsample_scales, weight_normed=True)
        self.flows = nn.ModuleList(
            Flow(residual_channels, n_mels, n_layers, kernel_size, height_dilation_cycle) for _ in range(n_flows)
        )

    def condition(self, mel: torch.Tensor, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Upsampled, squeezed mel in both height orders (flow k uses the reversed one when k is odd)."""
        cond = self.upsampler(mel)
        if cond.shape[-1] < samples:
            raise ValueError(f"waveflow: mel upsamples to {cond.shape[-1]} samples, audio has {samples}")
        cond = squeeze_condition(cond[..., :samples], self.height)
        return cond, cond.flip(2)

    def forward(self, audio: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio (B, T) -> latent (B, T), log-determinant (B,)."""
        if audio.shape[-1] % self.height:
            raise ValueError(f"waveflow: audio length {audio.shape[-1]} is not a multiple of height {self.height}")
        conds = self.condition(mel, audio.shape[-1])
        x = squeeze_audio(audio, self.height)
        logdet = x.new_zeros(x.shape[0])
        for k, flow in enumerate(self.flows):
            x, ld = flow(x, conds[k % 2])
            logdet = logdet + ld
            x = x.flip(2)
        return unsqueeze_audio(x), logdet

    def inverse(self, latent: torch.Tensor, mel: torch.Tensor, reverse: str = "cached") -> torch.Tensor:
        """latent (B, T) -> audio (B, T)."""
        if reverse not in REVERSE_MODES:
            raise ValueError(f"waveflow: unknown reverse mode {reverse!r}; expected one of {REVERSE_MODES}")
        if latent.shape[-1] % self.height:
            raise ValueError(f"waveflow: latent length {latent.shape[-1]} is not a multiple of height {self.height}")
        conds = self.condition(mel, latent.shape[-1])
        z = squeeze_audio(latent, self.height)
        for k in reversed(range(len(self.flows))):
            flow = self.flows[k]
            z = z.flip(2)
            invert = flow.inverse_cached if reverse == "cached" else flow.inverse_naive
            z = invert(z, conds[k % 2])
        return unsqueeze_audio(z)


class WaveFlow(Vocoder):
    family = "waveflow"
    inference_options = ("reverse", "sigma")
    presets = {
        "S": dict(residual_channels=64, height=8),
        "M": dict(residual_channels=96, height=16),
        "L": dict(residual_channels=128, height=16),
    }

    def __init__(
        self,
        residual_channels: int = 64,
        height: int = 8,
        n_flows: int = 8,
        n_layers: int = 8,
        kernel_size: int = 3,
        height_dilation_cycle: int = 1,
        upsample_scales: list[int] | tuple[int, ...] = (16, 16),
        n_mels: int = 80,
        hop_length: int = 256,
        sample_rate: int = 16000,
        sigma: float = 1.0,
        reverse: str = "cached",
        learning_rate: float = 2e-4,
        grad_clip: float = 5.0,
    ):
        super().__init__(n_mels=n_mels, hop_length=hop_length, sample_rate=sample_rate)
        upsample_scales = [int(s) for s in upsample_scales]
        check_upsampling(self.family, "upsample_scales", upsample_scales, hop_length)
        if hop_length % height:
            raise ValueError(f"waveflow: hop_length {hop_length} is not a multiple of height {height}")
        if kernel_size % 2 == 0:
            raise ValueError(f"waveflow: kernel_size must be odd, got {kernel_size}")
        if reverse not in REVERSE_MODES:
            raise ValueError(f"waveflow: unknown reverse mode {reverse!r}; expected one of {REVERSE_MODES}")
        self.generator = Generator(
            n_mels,
            upsample_scales,
            n_flows,
            n_layers,
            residual_channels,
            height,
            kernel_size,
            height_dilation_cycle,
        )
        self.height = height
        self.sigma = sigma
        self.reverse = reverse
        self.learning_rate = learning_rate
        self.grad_clip = grad_clip

    # ------------------------------------------------------------------ the flow
    def encode(self, audio: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio (B, T), mel (B, n_mels, frames) -> latent (B, T), log-determinant (B,)."""
        return self.generator(audio, mel)

    def decode(self, latent: torch.Tensor, mel: torch.Tensor, reverse: str | None = None) -> torch.Tensor:
        """The inverse of ``encode``: latent (B, T) -> audio (B, T), row by row in ``reverse`` mode."""
        with parametrize.cached():  # weight norm computed once per call, not once per row
            return self.generator.inverse(latent, mel, self.reverse if reverse is None else reverse)

    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        samples = mel.shape[-1] * self.hop_length
        latent = torch.randn(mel.shape[0], samples, device=mel.device, dtype=mel.dtype) * self.sigma
        return self.decode(latent, mel)

    def nll(self, audio: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """Gaussian negative log-likelihood per audio sample (nats), N(0, sigma^2) prior."""
        latent, logdet = self.encode(audio, mel)
        var = self.sigma**2
        total = 0.5 * latent.pow(2).sum() / var - logdet.sum()
        return total / latent.numel() + 0.5 * math.log(2 * math.pi * var)

    # ------------------------------------------------------------------ training
    def setup_training(self) -> None:
        self.optimizers = [torch.optim.Adam(self.generator.parameters(), lr=self.learning_rate)]

    def generator_losses(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": self.nll(audio, mel)}

    def training_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, float]:
        (opt,) = self.optimizers
        loss = self.generator_losses(audio, mel)["loss"]
        grad_norm = self.optimise(loss, opt, self.grad_clip)
        return {"loss": loss.item(), "grad_norm": float(grad_norm)}
