"""An iSTFT vocoder, as an example family from outside vocoder-energy.

A small convolutional network upsamples the mel spectrogram to the frame rate of a short-time Fourier
transform (hop 4 at the paper's hop 256) and predicts its log-magnitude and phase; ``torch.istft`` turns
them into audio. This is the idea of iSTFTNet (Kaneko et al., ICASSP 2022), reduced to a generator
trained by a multi-resolution STFT loss alone (Parallel WaveGAN's auxiliary loss), without
discriminators: a real, cheap vocoder to show how a family enters the study.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vocoder_energy.models.base import Vocoder, weight_norm

SLOPE = 0.1


class ResidualBlock(nn.Module):
    """Dilated convolutions with residual connections (receptive field without more upsampling)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 3, 5)):
        super().__init__()
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=d * (kernel_size - 1) // 2))
            for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, SLOPE))
        return x


class Generator(nn.Module):
    """Mel (B, n_mels, T) -> audio (B, T x hop): upsampling convolutions, then an inverse STFT."""

    def __init__(self, n_mels: int, channels: int, upsample_rates: Sequence[int], n_fft: int, istft_hop: int):
        super().__init__()
        self.n_fft, self.istft_hop = n_fft, istft_hop
        self.pre = weight_norm(nn.Conv1d(n_mels, channels, 7, padding=3))
        self.ups, self.blocks = nn.ModuleList(), nn.ModuleList()
        for rate in upsample_rates:
            # kernel 2r, stride r, padding r/2: exactly r output samples per input sample.
            self.ups.append(weight_norm(nn.ConvTranspose1d(channels, channels // 2, 2 * rate, rate, rate // 2)))
            channels //= 2
            self.blocks.append(ResidualBlock(channels))
        self.post = weight_norm(nn.Conv1d(channels, n_fft + 2, 7, padding=3))  # n_fft/2 + 1 magnitudes and phases
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.pre(mel)
        for up, block in zip(self.ups, self.blocks):
            x = block(up(F.leaky_relu(x, SLOPE)))
        x = self.post(F.leaky_relu(x, SLOPE))
        # One more frame, so that a centred inverse STFT yields exactly frames x hop samples.
        x = F.pad(x, (0, 1), mode="replicate")
        bins = self.n_fft // 2 + 1
        magnitude = torch.exp(x[:, :bins].clamp(max=10.0))
        phase = math.pi * torch.sin(x[:, bins:])
        spectrum = torch.polar(magnitude, phase)
        samples = (x.shape[-1] - 1) * self.istft_hop
        return torch.istft(spectrum, self.n_fft, self.istft_hop, self.n_fft, self.window, center=True, length=samples)


def stft_magnitude(audio: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    window = torch.hann_window(win, device=audio.device, dtype=audio.dtype)
    spectrum = torch.stft(audio, n_fft, hop, win, window, return_complex=True)
    return spectrum.abs().clamp(min=1e-7)


class ISTFTVocoder(Vocoder):
    family = "istft"
    presets = {"S": {"channels": 128}, "M": {"channels": 256}, "L": {"channels": 512}}

    def __init__(
        self,
        n_mels: int = 80,
        hop_length: int = 256,
        sample_rate: int = 16000,
        channels: int = 128,
        upsample_rates: tuple[int, ...] = (8, 8),
        n_fft: int = 16,
        learning_rate: float = 2e-4,
        adam_betas: tuple[float, float] = (0.8, 0.99),
        stft_resolutions: tuple[tuple[int, int, int], ...] = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240)),
    ):
        super().__init__(n_mels, hop_length, sample_rate)
        upsampling = math.prod(upsample_rates)
        if hop_length % upsampling or any(rate % 2 for rate in upsample_rates):
            raise ValueError(
                f"istft: upsample_rates {list(upsample_rates)} must be even and their product must divide "
                f"hop_length {hop_length}"
            )
        if channels >> len(upsample_rates) < 1:
            raise ValueError(f"istft: channels {channels} halve below 1 over {len(upsample_rates)} upsamplings")
        self.generator = Generator(n_mels, channels, upsample_rates, n_fft, hop_length // upsampling)
        self.learning_rate, self.adam_betas = learning_rate, tuple(adam_betas)
        self.stft_resolutions = [tuple(r) for r in stft_resolutions]

    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        return self.generator(mel)

    def setup_training(self) -> None:
        self.optimizers = [torch.optim.AdamW(self.generator.parameters(), lr=self.learning_rate, betas=self.adam_betas)]

    def generator_losses(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """Multi-resolution STFT loss: spectral convergence plus log-magnitude distance, averaged."""
        generated = self.generator(mel)[..., : audio.shape[-1]]
        convergence = magnitude = generated.new_zeros(())
        for n_fft, hop, win in self.stft_resolutions:
            real, fake = stft_magnitude(audio, n_fft, hop, win), stft_magnitude(generated, n_fft, hop, win)
            convergence = convergence + torch.linalg.norm(real - fake) / torch.linalg.norm(real)
            magnitude = magnitude + F.l1_loss(fake.log(), real.log())
        count = len(self.stft_resolutions)
        convergence, magnitude = convergence / count, magnitude / count
        return {"loss": convergence + magnitude, "spectral_convergence": convergence, "log_magnitude": magnitude}

    def training_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, float]:
        losses = self.generator_losses(audio, mel)
        self.optimise(losses["loss"], self.optimizers[0])
        return {name: float(value.detach()) for name, value in losses.items()}
