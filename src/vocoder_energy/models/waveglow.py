"""WaveGlow (Prenger et al., 2019): a normalising flow of invertible 1x1 convolutions and WaveNet-like
affine couplings, conditioned on a transposed-convolution upsampled mel.

Sizes follow Table 2 of the paper: 12 flows, n_group 8, an early output of 2 channels every 4 flows,
8-layer WaveNets of kernel 3, and WaveNet width 64 (S), 128 (M) or 256 (L, the official NVIDIA
configuration). The paper counts WaveGlow after weight-norm removal.
Loss: flow negative log-likelihood with sigma 1 (``train_sigma``), normalised per element; Adam, lr 1e-4.
Generation draws the latent with ``sigma`` (1.0 as in the paper) and runs the exact inverse.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vocoder_energy.models.base import Vocoder, count_without_weight_norm, weight_norm


def _gated(in_act: torch.Tensor, cond: torch.Tensor, channels: int) -> torch.Tensor:
    """WaveNet's gated activation tanh(a) * sigmoid(b) on the sum of the input and conditioning."""
    x = in_act + cond
    return torch.tanh(x[:, :channels]) * torch.sigmoid(x[:, channels:])


class Invertible1x1Conv(nn.Module):
    """A channel-mixing 1x1 convolution z -> W z with an orthogonal initialisation and det W > 0."""

    def __init__(self, channels: int):
        super().__init__()
        # On the CPU explicitly (the same draw): the sign check needs values, also on the meta device.
        q, _ = torch.linalg.qr(torch.randn(channels, channels, device="cpu"))
        if torch.det(q) < 0:
            q[:, 0] = -q[:, 0]
        self.weight = nn.Parameter(q)
        self._inverse_cache: tuple[tuple, torch.Tensor] | None = None

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, C, G) -> (W z, log|det W| per column), the latter to be multiplied by G per item."""
        logabsdet = torch.linalg.slogdet(self.weight).logabsdet
        return F.conv1d(z, self.weight.unsqueeze(-1)), logabsdet

    def _inverse_weight(self) -> torch.Tensor:
        w = self.weight
        cacheable = torch.is_inference_mode_enabled() and not self.training
        if cacheable:
            key = (w.data_ptr(), w._version, w.dtype, w.device)
            if self._inverse_cache is not None and self._inverse_cache[0] == key:
                return self._inverse_cache[1]
        # Inverted in float64 so that the round trip is exact to the precision of the working dtype.
        w_inv = torch.linalg.inv(w.double()).to(w.dtype)
        if cacheable:
            self._inverse_cache = (key, w_inv)
        return w_inv

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return F.conv1d(z, self._inverse_weight().unsqueeze(-1))


class WN(nn.Module):
    """The coupling network: dilated gated convolutions with res/skip paths, conditioned on the mel.

    Outputs (b, log_s), each with ``n_in_channels`` channels; the end convolution is zero-initialised
    so that every coupling starts as the identity.
    """

    def __init__(self, n_in_channels: int, n_cond_channels: int, n_layers: int, n_channels: int, kernel_size: int):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"waveglow: kernel_size must be odd, got {kernel_size}")
        self.n_layers = n_layers
        self.n_channels = n_channels
        self.start = weight_norm(nn.Conv1d(n_in_channels, n_channels, 1))
        self.cond_layer = weight_norm(nn.Conv1d(n_cond_channels, 2 * n_channels * n_layers, 1))
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(n_layers):
            dilation = 2**i
            padding = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(
                weight_norm(nn.Conv1d(n_channels, 2 * n_channels, kernel_size, dilation=dilation, padding=padding))
            )
            # The last layer has no residual output, only skip channels.
            res_skip_channels = 2 * n_channels if i < n_layers - 1 else n_channels
            self.res_skip_layers.append(weight_norm(nn.Conv1d(n_channels, res_skip_channels, 1)))
        self.end = nn.Conv1d(n_channels, 2 * n_in_channels, 1)
        nn.init.zeros_(self.end.weight)
        nn.init.zeros_(self.end.bias)

    def forward(self, audio: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = self.start(audio)
        cond = self.cond_layer(cond)
        skip = torch.zeros_like(x)
        n = self.n_channels
        for i, (in_layer, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            acts = _gated(in_layer(x), cond[:, 2 * n * i : 2 * n * (i + 1)], n)
            out = res_skip(acts)
            if i < self.n_layers - 1:
                x = x + out[:, :n]
                skip = skip + out[:, n:]
            else:
                skip = skip + out
        return self.end(skip)


class Generator(nn.Module):
    """Upsampler and flows. ``forward``: audio -> latent and log-determinants; ``inverse``: latent -> audio.

    The latent z has shape (B, n_group, samples / n_group) and holds, along channels, the early outputs
    in the order they leave the flow, followed by the channels that went through every flow.
    """

    def __init__(
        self,
        n_mels: int,
        hop_length: int,
        n_flows: int,
        n_group: int,
        n_early_every: int,
        n_early_size: int,
        n_layers: int,
        n_channels: int,
        kernel_size: int,
        upsample_kernel_size: int,
    ):
        super().__init__()
        if n_group % 2 or n_early_size % 2:
            raise ValueError("waveglow: n_group and n_early_size must be even")
        if n_early_every < 1:
            raise ValueError("waveglow: n_early_every must be >= 1")
        if hop_length % n_group:
            raise ValueError(f"waveglow: hop_length {hop_length} is not a multiple of n_group {n_group}")
        if upsample_kernel_size < hop_length:
            raise ValueError("waveglow: upsample_kernel_size must be >= hop_length")
        self.n_flows = n_flows
        self.n_group = n_group
        self.n_early_every = n_early_every
        self.n_early_size = n_early_size
        self.upsample = nn.ConvTranspose1d(n_mels, n_mels, upsample_kernel_size, stride=hop_length)
        self.convinv = nn.ModuleList()
        self.WN = nn.ModuleList()
        remaining = n_group
        for k in range(n_flows):
            if self._early_at(k):
                remaining -= n_early_size
                if remaining < 2:
                    raise ValueError("waveglow: the early outputs leave fewer than 2 channels to transform")
            self.convinv.append(Invertible1x1Conv(remaining))
            self.WN.append(WN(remaining // 2, n_mels * n_group, n_layers, n_channels, kernel_size))
        self.n_remaining_channels = remaining

    def _early_at(self, k: int) -> bool:
        return k > 0 and k % self.n_early_every == 0

    def condition(self, mel: torch.Tensor, samples: int) -> torch.Tensor:
        """Mel (B, n_mels, T) -> grouped conditioning (B, n_mels * n_group, samples / n_group)."""
        cond = self.upsample(mel)
        if cond.size(2) < samples:
            raise ValueError(
                f"waveglow: {mel.size(2)} mel frames condition at most {cond.size(2)} samples, not {samples}"
            )
        cond = cond[:, :, :samples]
        # (B, M, G, n_group) -> (B, G, M, n_group) -> (B, G, M * n_group) -> (B, M * n_group, G)
        cond = cond.unfold(2, self.n_group, self.n_group).permute(0, 2, 1, 3)
        return cond.reshape(cond.size(0), cond.size(1), -1).permute(0, 2, 1)

    def forward(self, audio: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Audio (B, S) and mel -> (z, sum of log s per item (B,), sum of log|det W| per item (B,)).

        S must be a multiple of n_group (the official code silently drops a remainder; here it is an error).
        """
        if audio.size(1) % self.n_group:
            raise ValueError(f"waveglow: audio length {audio.size(1)} is not a multiple of n_group {self.n_group}")
        cond = self.condition(mel, audio.size(1))
        x = audio.unfold(1, self.n_group, self.n_group).permute(0, 2, 1)  # (B, n_group, G)
        columns = x.size(2)
        early = []
        log_s_total = x.new_zeros(x.size(0))
        log_det_w_total = x.new_zeros(())
        for k in range(self.n_flows):
            if self._early_at(k):
                early.append(x[:, : self.n_early_size])
                x = x[:, self.n_early_size :]
            x, log_det_w = self.convinv[k](x)
            log_det_w_total = log_det_w_total + log_det_w
            n_half = x.size(1) // 2
            x_0, x_1 = x[:, :n_half], x[:, n_half:]
            out = self.WN[k](x_0, cond)
            b, log_s = out[:, :n_half], out[:, n_half:]
            x_1 = torch.exp(log_s) * x_1 + b
            log_s_total = log_s_total + log_s.sum(dim=(1, 2))
            x = torch.cat([x_0, x_1], dim=1)
        z = torch.cat([*early, x], dim=1)
        return z, log_s_total, (columns * log_det_w_total).expand(x.size(0))

    def inverse(self, z: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """Latent (B, n_group, G) and mel -> audio (B, G * n_group), the exact inverse of ``forward``."""
        samples = z.size(2) * self.n_group
        cond = self.condition(mel, samples)
        n_early_total = z.size(1) - self.n_remaining_channels
        early = list(z[:, :n_early_total].split(self.n_early_size, dim=1))
        x = z[:, n_early_total:]
        for k in reversed(range(self.n_flows)):
            n_half = x.size(1) // 2
            x_0, x_1 = x[:, :n_half], x[:, n_half:]
            out = self.WN[k](x_0, cond)
            b, log_s = out[:, :n_half], out[:, n_half:]
            x_1 = (x_1 - b) * torch.exp(-log_s)
            x = self.convinv[k].inverse(torch.cat([x_0, x_1], dim=1))
            if self._early_at(k):
                x = torch.cat([early.pop(), x], dim=1)
        return x.permute(0, 2, 1).reshape(x.size(0), -1)


class WaveGlow(Vocoder):
    family = "waveglow"
    inference_options = ("sigma",)
    presets = {
        "S": dict(n_channels=64),
        "M": dict(n_channels=128),
        "L": dict(n_channels=256),  # official NVIDIA configuration
    }

    def __init__(
        self,
        n_channels: int = 256,
        n_flows: int = 12,
        n_group: int = 8,
        n_early_every: int = 4,
        n_early_size: int = 2,
        n_layers: int = 8,
        kernel_size: int = 3,
        upsample_kernel_size: int = 1024,
        n_mels: int = 80,
        hop_length: int = 256,
        sample_rate: int = 16000,
        sigma: float = 1.0,
        train_sigma: float = 1.0,
        learning_rate: float = 1e-4,
    ):
        super().__init__(n_mels=n_mels, hop_length=hop_length, sample_rate=sample_rate)
        self.generator = Generator(
            n_mels,
            hop_length,
            n_flows,
            n_group,
            n_early_every,
            n_early_size,
            n_layers,
            n_channels,
            kernel_size,
            upsample_kernel_size,
        )
        self.sigma = float(sigma)  # of the noise that ``infer`` draws
        self.train_sigma = float(train_sigma)  # of the Gaussian prior in the training NLL
        self.learning_rate = learning_rate

    def count_parameters(self) -> int:
        # The paper counts WaveGlow after weight-norm removal.
        return count_without_weight_norm(self.generator)

    # ----------------------------------------------------------------- the flow
    def encode(self, audio: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Audio (B, S) -> (latent (B, n_group, S / n_group), sum log s (B,), sum log|det W| (B,))."""
        return self.generator(audio, mel)

    def decode(self, z: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """The exact inverse of ``encode``: latent (B, n_group, G) -> audio (B, G * n_group)."""
        return self.generator.inverse(z, mel)

    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        samples = mel.size(2) * self.hop_length
        z = torch.randn(
            mel.size(0), self.generator.n_group, samples // self.generator.n_group, device=mel.device, dtype=mel.dtype
        )
        return self.decode(self.sigma * z, mel)

    # ----------------------------------------------------------------- training
    def nll(self, audio: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-element negative log-likelihood (the official WaveGlowLoss), with its log s and log det W parts."""
        z, log_s, log_det_w = self.encode(audio, mel)
        elements = z.numel()
        log_s_sum, log_det_w_sum = log_s.sum(), log_det_w.sum()
        loss = (torch.sum(z * z) / (2 * self.train_sigma**2) - log_s_sum - log_det_w_sum) / elements
        return loss, log_s_sum / elements, log_det_w_sum / elements

    def setup_training(self) -> None:
        self.optimizers = [torch.optim.Adam(self.generator.parameters(), lr=self.learning_rate)]

    def generator_losses(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        loss, log_s, log_det_w = self.nll(audio, mel)
        return {"loss": loss, "log_s": log_s, "log_det_w": log_det_w}

    def training_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, float]:
        (opt,) = self.optimizers
        losses = self.generator_losses(audio, mel)
        self.optimise(losses["loss"], opt)
        return {name: value.item() for name, value in losses.items()}
