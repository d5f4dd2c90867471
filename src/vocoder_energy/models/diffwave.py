"""DiffWave (Kong et al., 2021): a mel-conditioned non-causal WaveNet that predicts diffusion noise.

Sizes: 30 residual layers with dilation cycle 10 and 32 / 64 / 128 residual channels (S / M / L),
which reproduce Table 2 of the paper exactly (1,227,651 / 2,619,971 / 6,885,315 parameters).
Training: 50 steps, beta = linspace(1e-4, 0.05, 50), L1 between true and predicted noise; Adam lr 2e-4.
Sampling: the 6-step fast schedule [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5] aligned to fractional training
steps, noise injected at every step but the last, clamped to [-1, 1] (at every step, as the official
sampler does); ``fast_sampling=False`` runs all training steps instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vocoder_energy.models.base import Vocoder
from vocoder_energy.models.blocks import MelUpsampler2d, check_upsampling, cumulative_alphas, linear_betas

FAST_INFERENCE_SCHEDULE = [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]


def _conv1d(*args, **kwargs) -> nn.Conv1d:
    """A 1-D convolution with Kaiming-normal weights (the DiffWave initialisation)."""
    layer = nn.Conv1d(*args, **kwargs)
    nn.init.kaiming_normal_(layer.weight)
    return layer


def align_steps(training_betas: list[float], inference_betas: list[float]) -> list[float]:
    """Fractional training step matching each inference step's alpha-bar (the DiffWave fast sampler).

    For every inference step s, find the training interval [t, t+1] whose alpha-bar brackets the
    inference alpha-bar and interpolate linearly in sqrt(alpha-bar).
    """
    train_cum = cumulative_alphas(training_betas)
    infer_cum = cumulative_alphas(inference_betas)
    steps = []
    for s, target in enumerate(infer_cum):
        for t in range(len(train_cum) - 1):
            hi, lo = train_cum[t], train_cum[t + 1]
            if lo <= target <= hi:
                steps.append(t + (hi**0.5 - target**0.5) / (hi**0.5 - lo**0.5))
                break
        else:
            raise ValueError(
                f"diffwave: inference step {s} has alpha-bar {target:.6g}, outside the training "
                f"schedule's range [{train_cum[-1]:.6g}, {train_cum[0]:.6g}]"
            )
    return steps


class DiffusionEmbedding(nn.Module):
    """Sinusoidal step table (128 dims, one row per training step), interpolated for fractional steps."""

    def __init__(self, max_steps: int, embedding_dim: int = 128, hidden_dim: int = 512):
        super().__init__()
        self.register_buffer("table", self._table(max_steps, embedding_dim), persistent=False)
        self.projection1 = nn.Linear(embedding_dim, hidden_dim)
        self.projection2 = nn.Linear(hidden_dim, hidden_dim)

    @staticmethod
    def _table(max_steps: int, embedding_dim: int) -> torch.Tensor:
        half = embedding_dim // 2
        steps = torch.arange(max_steps, dtype=torch.float32).unsqueeze(1)
        frequencies = 10.0 ** (torch.arange(half, dtype=torch.float32) * 4.0 / (half - 1))
        angles = steps * frequencies.unsqueeze(0)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)

    def _lookup(self, step: torch.Tensor) -> torch.Tensor:
        if not step.is_floating_point():
            return self.table[step]
        low = torch.floor(step).long().clamp(0, self.table.shape[0] - 1)
        high = torch.ceil(step).long().clamp(0, self.table.shape[0] - 1)
        frac = (step - low.to(step.dtype)).unsqueeze(-1).to(self.table.dtype)
        return self.table[low] + (self.table[high] - self.table[low]) * frac

    def forward(self, step: torch.Tensor) -> torch.Tensor:
        x = self._lookup(step)
        x = F.silu(self.projection1(x))
        return F.silu(self.projection2(x))


class ResidualLayer(nn.Module):
    def __init__(self, n_mels: int, channels: int, dilation: int, embedding_hidden: int):
        super().__init__()
        self.dilated_conv = _conv1d(channels, 2 * channels, 3, padding=dilation, dilation=dilation)
        self.diffusion_projection = nn.Linear(embedding_hidden, channels)
        self.conditioner_projection = _conv1d(n_mels, 2 * channels, 1)
        self.output_projection = _conv1d(channels, 2 * channels, 1)

    def forward(
        self, x: torch.Tensor, condition: torch.Tensor, step_embedding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        y = x + self.diffusion_projection(step_embedding).unsqueeze(-1)
        y = self.dilated_conv(y) + self.conditioner_projection(condition)
        gate, filt = torch.chunk(y, 2, dim=1)
        y = torch.sigmoid(gate) * torch.tanh(filt)
        residual, skip = torch.chunk(self.output_projection(y), 2, dim=1)
        return (x + residual) / math.sqrt(2.0), skip


class DiffWaveNet(nn.Module):
    """The noise predictor eps(x_t, mel, t): (B, samples), (B, n_mels, frames), (B,) -> (B, samples)."""

    def __init__(
        self,
        n_mels: int,
        residual_channels: int,
        residual_layers: int,
        dilation_cycle_length: int,
        max_steps: int,
        upsample_strides: list[int],
        embedding_dim: int,
        embedding_hidden: int,
    ):
        super().__init__()
        self.input_projection = _conv1d(1, residual_channels, 1)
        self.diffusion_embedding = DiffusionEmbedding(max_steps, embedding_dim, embedding_hidden)
        self.upsampler = MelUpsampler2d(upsample_strides)
        self.layers = nn.ModuleList(
            ResidualLayer(n_mels, residual_channels, 2 ** (i % dilation_cycle_length), embedding_hidden)
            for i in range(residual_layers)
        )
        self.skip_projection = _conv1d(residual_channels, residual_channels, 1)
        self.output_projection = _conv1d(residual_channels, 1, 1)
        nn.init.zeros_(self.output_projection.weight)

    def forward(self, audio: torch.Tensor, mel: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.input_projection(audio.unsqueeze(1)))
        step_embedding = self.diffusion_embedding(step)
        condition = self.upsampler(mel)
        skip = None
        for layer in self.layers:
            x, layer_skip = layer(x, condition, step_embedding)
            skip = layer_skip if skip is None else skip + layer_skip
        x = skip / math.sqrt(len(self.layers))
        x = F.relu(self.skip_projection(x))
        return self.output_projection(x).squeeze(1)


class DiffWave(Vocoder):
    family = "diffwave"
    inference_options = ("inference_noise_schedule", "fast_sampling")
    presets = {
        "S": dict(residual_channels=32),
        "M": dict(residual_channels=64),
        "L": dict(residual_channels=128),
    }

    def __init__(
        self,
        residual_channels: int = 64,
        residual_layers: int = 30,
        dilation_cycle_length: int = 10,
        n_mels: int = 80,
        hop_length: int = 256,
        sample_rate: int = 16000,
        upsample_strides: list[int] | None = None,
        embedding_dim: int = 128,
        embedding_hidden: int = 512,
        training_steps: int = 50,
        beta_start: float = 1e-4,
        beta_end: float = 0.05,
        inference_noise_schedule: list[float] | None = None,
        fast_sampling: bool = True,
        learning_rate: float = 2e-4,
        max_grad_norm: float | None = None,
    ):
        super().__init__(n_mels=n_mels, hop_length=hop_length, sample_rate=sample_rate)
        strides = [16, 16] if upsample_strides is None else [int(s) for s in upsample_strides]
        check_upsampling(self.family, "upsample_strides", strides, hop_length)
        if training_steps < 2:
            raise ValueError(f"diffwave: training_steps must be at least 2, got {training_steps}")
        self.training_betas = linear_betas(float(beta_start), float(beta_end), int(training_steps))
        self.fast_sampling = bool(fast_sampling)
        if inference_noise_schedule is None:
            inference_noise_schedule = FAST_INFERENCE_SCHEDULE
        self.inference_noise_schedule = [float(b) for b in inference_noise_schedule]
        if not self.inference_noise_schedule or not all(0.0 < b < 1.0 for b in self.inference_noise_schedule):
            raise ValueError(f"diffwave: inference betas must lie in (0, 1), got {self.inference_noise_schedule}")
        # Validate the alignment now so that a bad schedule fails at construction, not at generation.
        self._sampling_steps()
        self.learning_rate = learning_rate
        self.max_grad_norm = max_grad_norm
        self.generator = DiffWaveNet(
            n_mels,
            residual_channels,
            residual_layers,
            dilation_cycle_length,
            int(training_steps),
            strides,
            embedding_dim,
            embedding_hidden,
        )

    # ----------------------------------------------------------------- sampling
    def sampling_betas(self) -> list[float]:
        """The betas the sampler walks through (the fast schedule, or the training one)."""
        return self.inference_noise_schedule if self.fast_sampling else self.training_betas

    def _sampling_steps(self) -> list[float]:
        if not self.fast_sampling:
            return [float(t) for t in range(len(self.training_betas))]
        return align_steps(self.training_betas, self.inference_noise_schedule)

    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        betas = self.sampling_betas()
        steps = self._sampling_steps()
        alpha_cum = cumulative_alphas(betas)
        batch = mel.shape[0]
        audio = torch.randn(batch, mel.shape[-1] * self.hop_length, device=mel.device, dtype=mel.dtype)
        for n in range(len(betas) - 1, -1, -1):
            step = torch.full((batch,), steps[n], device=mel.device, dtype=torch.float32)
            c1 = 1.0 / math.sqrt(1.0 - betas[n])
            c2 = betas[n] / math.sqrt(1.0 - alpha_cum[n])
            audio = c1 * (audio - c2 * self.generator(audio, mel, step))
            if n > 0:
                sigma = math.sqrt((1.0 - alpha_cum[n - 1]) / (1.0 - alpha_cum[n]) * betas[n])
                audio = audio + sigma * torch.randn_like(audio)
            audio = torch.clamp(audio, -1.0, 1.0)
        return audio

    # ----------------------------------------------------------------- training
    def setup_training(self) -> None:
        self.optimizers = [torch.optim.Adam(self.generator.parameters(), lr=self.learning_rate)]

    def diffusion_loss(
        self, audio: torch.Tensor, mel: torch.Tensor, noise: torch.Tensor, step: torch.Tensor
    ) -> torch.Tensor:
        """L1 between ``noise`` and its prediction from audio diffused to integer ``step`` (B,)."""
        alpha_cum = torch.tensor(cumulative_alphas(self.training_betas), device=audio.device, dtype=audio.dtype)[
            step
        ].unsqueeze(1)
        noisy = alpha_cum.sqrt() * audio + (1.0 - alpha_cum).sqrt() * noise
        return F.l1_loss(self.generator(noisy, mel, step), noise)

    def generator_losses(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        samples = mel.shape[-1] * self.hop_length
        if audio.shape[-1] < samples:
            raise ValueError(f"diffwave: {audio.shape[-1]} samples for {mel.shape[-1]} frames of hop {self.hop_length}")
        audio = audio[..., :samples]
        step = torch.randint(0, len(self.training_betas), (audio.shape[0],), device=audio.device)
        noise = torch.randn_like(audio)
        return {"loss": self.diffusion_loss(audio, mel, noise, step)}

    def training_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, float]:
        (optimizer,) = self.optimizers
        loss = self.generator_losses(audio, mel)["loss"]
        self.optimise(loss, optimizer, self.max_grad_norm)
        return {"loss": loss.item()}
