"""HiFi-GAN (Kong et al., 2020): generator V1/V2/V3, multi-period and multi-scale discriminators.

Sizes follow Table 2 of the paper: S = V2, M = V3, L = V1 (the authors' file names swap S and M).
Losses: least-squares GAN + 2 x feature matching + 45 x mel L1; AdamW (0.8, 0.99), lr 2e-4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from vocoder_energy.data.audio import mel_spectrogram
from vocoder_energy.models.base import Vocoder, weight_norm
from vocoder_energy.models.blocks import check_upsampling

LRELU_SLOPE = 0.1


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """Two dilated convolutions per residual branch (V1, V2)."""

    def __init__(self, channels: int, kernel_size: int, dilations: list[int]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d)))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, padding=_padding(kernel_size))) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv1, conv2 in zip(self.convs1, self.convs2):
            # Fresh convolution outputs are activated and summed in place and the first is not kept
            # alive through the second: fewer new buffers per call (the same values, autograd-safe).
            h = F.leaky_relu(conv1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE, inplace=True)
            x = conv2(h).add_(x)
        return x


class ResBlock2(nn.Module):
    """One dilated convolution per residual branch (V3)."""

    def __init__(self, channels: int, kernel_size: int, dilations: list[int]):
        super().__init__()
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d)))
            for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(F.leaky_relu(x, LRELU_SLOPE)).add_(x)  # in place into the fresh convolution output
        return x


class Generator(nn.Module):
    def __init__(
        self,
        n_mels: int,
        upsample_initial_channel: int,
        resblock: str,
        upsample_rates: list[int],
        upsample_kernel_sizes: list[int],
        resblock_kernel_sizes: list[int],
        resblock_dilation_sizes: list[list[int]],
    ):
        super().__init__()
        block = {"1": ResBlock1, "2": ResBlock2}[str(resblock)]
        self.num_kernels = len(resblock_kernel_sizes)
        self.conv_pre = weight_norm(nn.Conv1d(n_mels, upsample_initial_channel, 7, padding=3))
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = upsample_initial_channel
        for rate, kernel in zip(upsample_rates, upsample_kernel_sizes):
            self.ups.append(
                weight_norm(nn.ConvTranspose1d(channels, channels // 2, kernel, rate, padding=(kernel - rate) // 2))
            )
            channels //= 2
            for k, dilations in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(channels, k, dilations))
        self.conv_post = weight_norm(nn.Conv1d(channels, 1, 7, padding=3))

    def fuse(self, x: torch.Tensor, blocks: nn.ModuleList) -> torch.Tensor:
        """Multi-receptive-field fusion: the mean of the blocks' outputs, accumulated in place (no list, no
        intermediate sums: fewer fresh allocations, so fewer page faults per call)."""
        total = blocks[0](x)
        for block in blocks[1:]:
            total += block(x)
        return total.div_(len(blocks))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            x = self.fuse(x, self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels])
        # The official generator uses PyTorch's default slope (0.01) before the last convolution.
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int):
        super().__init__()
        self.period = period
        channels = [1, 32, 128, 512, 1024]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(c_in, c_out, (5, 1), (3, 1), padding=(2, 0)))
            for c_in, c_out in zip(channels[:-1], channels[1:])
        )
        self.convs.append(weight_norm(nn.Conv2d(1024, 1024, (5, 1), padding=(2, 0))))
        self.conv_post = weight_norm(nn.Conv2d(1024, 1, (3, 1), padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        batch, channels, length = x.shape
        if length % self.period:
            pad = self.period - length % self.period
            x = F.pad(x, (0, pad), "reflect")
            length += pad
        x = x.view(batch, channels, length // self.period, self.period)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.conv_post(x)
        features.append(x)
        return x.flatten(1), features


class ScaleDiscriminator(nn.Module):
    def __init__(self, use_spectral_norm: bool = False):
        super().__init__()
        norm = spectral_norm if use_spectral_norm else weight_norm
        specs = [  # (in, out, kernel, stride, groups, padding)
            (1, 128, 15, 1, 1, 7),
            (128, 128, 41, 2, 4, 20),
            (128, 256, 41, 2, 16, 20),
            (256, 512, 41, 4, 16, 20),
            (512, 1024, 41, 4, 16, 20),
            (1024, 1024, 41, 1, 16, 20),
            (1024, 1024, 5, 1, 1, 2),
        ]
        self.convs = nn.ModuleList(norm(nn.Conv1d(i, o, k, s, groups=g, padding=p)) for i, o, k, s, g, p in specs)
        self.conv_post = norm(nn.Conv1d(1024, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.conv_post(x)
        features.append(x)
        return x.flatten(1), features


class Discriminators(nn.Module):
    """MPD (periods 2, 3, 5, 7, 11) and MSD (raw, x2 and x4 average-pooled; spectral norm on the first)."""

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11)):
        super().__init__()
        self.mpd = nn.ModuleList(PeriodDiscriminator(p) for p in periods)
        self.msd = nn.ModuleList(
            [ScaleDiscriminator(use_spectral_norm=True), ScaleDiscriminator(), ScaleDiscriminator()]
        )
        self.pools = nn.ModuleList([nn.Identity(), nn.AvgPool1d(4, 2, padding=2), nn.AvgPool1d(4, 2, padding=2)])

    def forward(self, audio: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        scores, features = [], []
        for disc in self.mpd:
            score, feats = disc(audio)
            scores.append(score)
            features.append(feats)
        x = audio
        for pool, disc in zip(self.pools, self.msd):
            x = pool(x)
            score, feats = disc(x)
            scores.append(score)
            features.append(feats)
        return scores, features


class HiFiGAN(Vocoder):
    family = "hifigan"
    presets = {
        "S": dict(  # official V2
            upsample_initial_channel=128,
            resblock="1",
            upsample_rates=[8, 8, 2, 2],
            upsample_kernel_sizes=[16, 16, 4, 4],
            resblock_kernel_sizes=[3, 7, 11],
            resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        ),
        "M": dict(  # official V3
            upsample_initial_channel=256,
            resblock="2",
            upsample_rates=[8, 8, 4],
            upsample_kernel_sizes=[16, 16, 8],
            resblock_kernel_sizes=[3, 5, 7],
            resblock_dilation_sizes=[[1, 2], [2, 6], [3, 12]],
        ),
        "L": dict(  # official V1
            upsample_initial_channel=512,
            resblock="1",
            upsample_rates=[8, 8, 2, 2],
            upsample_kernel_sizes=[16, 16, 4, 4],
            resblock_kernel_sizes=[3, 7, 11],
            resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        ),
    }

    def __init__(
        self,
        upsample_initial_channel: int,
        resblock: str,
        upsample_rates: list[int],
        upsample_kernel_sizes: list[int],
        resblock_kernel_sizes: list[int],
        resblock_dilation_sizes: list[list[int]],
        n_mels: int = 80,
        hop_length: int = 256,
        sample_rate: int = 16000,
        learning_rate: float = 2e-4,
        adam_betas: tuple[float, float] = (0.8, 0.99),
        mel_loss_weight: float = 45.0,
        feature_loss_weight: float = 2.0,
        loss_n_fft: int = 1024,
    ):
        super().__init__(n_mels=n_mels, hop_length=hop_length, sample_rate=sample_rate)
        check_upsampling(self.family, "upsample_rates", upsample_rates, hop_length)
        self.generator = Generator(
            n_mels,
            upsample_initial_channel,
            resblock,
            upsample_rates,
            upsample_kernel_sizes,
            resblock_kernel_sizes,
            resblock_dilation_sizes,
        )
        self.learning_rate = learning_rate
        self.adam_betas = tuple(adam_betas)
        self.mel_loss_weight = mel_loss_weight
        self.feature_loss_weight = feature_loss_weight
        self.loss_n_fft = loss_n_fft

    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        return self.generator(mel).squeeze(1)

    def setup_training(self) -> None:
        self.discriminators = Discriminators()
        self.discriminators.to(next(self.generator.parameters()).device)
        kwargs = dict(lr=self.learning_rate, betas=self.adam_betas)
        self.optimizers = [
            torch.optim.AdamW(self.generator.parameters(), **kwargs),
            torch.optim.AdamW(self.discriminators.parameters(), **kwargs),
        ]

    def _loss_mel(self, audio: torch.Tensor) -> torch.Tensor:
        # The HiFi-GAN mel loss: magnitude mel, n_fft 1024, hop 256, log clamped at 1e-5.
        mel = mel_spectrogram(
            audio, self.sample_rate, n_fft=self.loss_n_fft, hop_length=256, n_mels=self.n_mels, power=1.0
        )
        return torch.log(torch.clamp(mel, min=1e-5))

    def training_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, float]:
        opt_g, opt_d = self.optimizers
        real = audio.unsqueeze(1)
        fake = self.generator(mel)

        real_scores, _ = self.discriminators(real)
        fake_scores, _ = self.discriminators(fake.detach())
        loss_d = sum(torch.mean((1 - r) ** 2) + torch.mean(f**2) for r, f in zip(real_scores, fake_scores))
        self.optimise(loss_d, opt_d)

        losses = self._generator_losses(audio, fake)
        self.optimise(losses["loss_g"], opt_g)
        return {"loss_d": loss_d.item(), **{name: value.item() for name, value in losses.items()}}

    def generator_losses(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._generator_losses(audio, self.generator(mel))

    def _generator_losses(self, audio: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Least-squares adversarial, feature-matching and mel losses of ``fake`` against ``audio``."""
        real_scores, real_features = self.discriminators(audio.unsqueeze(1))
        fake_scores, fake_features = self.discriminators(fake)
        loss_adv = sum(torch.mean((1 - f) ** 2) for f in fake_scores)
        loss_fm = sum(
            torch.mean(torch.abs(r.detach() - f))
            for real_maps, fake_maps in zip(real_features, fake_features)
            for r, f in zip(real_maps, fake_maps)
        )
        loss_mel = F.l1_loss(self._loss_mel(fake.squeeze(1)), self._loss_mel(audio))
        loss_g = loss_adv + self.feature_loss_weight * loss_fm + self.mel_loss_weight * loss_mel
        return {"loss_g": loss_g, "loss_mel": loss_mel, "loss_fm": loss_fm, "loss_adv": loss_adv}
