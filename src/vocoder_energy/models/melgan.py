"""MelGAN (Kumar et al., 2019): residual-stack generator and multi-scale discriminator.

Sizes: S = ngf 16 with 2 residual blocks per stage, M = the official configuration (ngf 32,
3 blocks), L = ngf 64 with 4 blocks; block j of a stage has dilation 3**j.
Losses: hinge GAN + 10 x feature matching; Adam lr 1e-4, betas (0.5, 0.9) for G and D.

The official code applies a N(0, 0.02) initialisation to every convolution's ``weight``; on a
weight-normed layer that weight is recomputed from g and v, so the initialisation has no effect
there and PyTorch's default initialisation is what actually trains. We keep the default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vocoder_energy.models.base import Vocoder, weight_norm
from vocoder_energy.models.blocks import check_upsampling

LRELU_SLOPE = 0.2


class ResidualBlock(nn.Module):
    """LeakyReLU, reflection pad, dilated k3 conv, LeakyReLU, k1 conv; plus a weight-normed 1x1 shortcut."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.conv_dilated = weight_norm(nn.Conv1d(channels, channels, 3, dilation=dilation))
        self.conv_pointwise = weight_norm(nn.Conv1d(channels, channels, 1))
        self.shortcut = weight_norm(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.pad(F.leaky_relu(x, LRELU_SLOPE), (self.dilation, self.dilation), mode="reflect")
        y = self.conv_pointwise(F.leaky_relu(self.conv_dilated(y), LRELU_SLOPE))
        return self.shortcut(x) + y


class Generator(nn.Module):
    def __init__(self, n_mels: int, ngf: int, n_residual_layers: int, ratios: list[int]):
        super().__init__()
        channels = ngf * 2 ** len(ratios)
        self.conv_pre = weight_norm(nn.Conv1d(n_mels, channels, 7))
        self.ups = nn.ModuleList()
        self.stacks = nn.ModuleList()
        for r in ratios:
            self.ups.append(
                weight_norm(
                    nn.ConvTranspose1d(
                        channels, channels // 2, 2 * r, stride=r, padding=r // 2 + r % 2, output_padding=r % 2
                    )
                )
            )
            channels //= 2
            self.stacks.append(nn.Sequential(*(ResidualBlock(channels, 3**j) for j in range(n_residual_layers))))
        self.conv_post = weight_norm(nn.Conv1d(channels, 1, 7))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(F.pad(mel, (3, 3), mode="reflect"))
        for up, stack in zip(self.ups, self.stacks):
            x = stack(up(F.leaky_relu(x, LRELU_SLOPE)))
        x = F.pad(F.leaky_relu(x, LRELU_SLOPE), (3, 3), mode="reflect")
        return torch.tanh(self.conv_post(x))


class NLayerDiscriminator(nn.Module):
    """One scale: k15 conv, ``n_layers`` grouped strided convs, a k5 conv and a k3 score conv.

    Returns every layer's output; the last one is the score map.
    """

    def __init__(self, ndf: int, n_layers: int, downsampling_factor: int):
        super().__init__()
        self.conv_pre = weight_norm(nn.Conv1d(1, ndf, 15))
        self.convs = nn.ModuleList()
        channels = ndf
        stride = downsampling_factor
        for _ in range(n_layers):
            out = min(channels * stride, 1024)
            self.convs.append(
                weight_norm(
                    nn.Conv1d(channels, out, stride * 10 + 1, stride=stride, padding=stride * 5, groups=channels // 4)
                )
            )
            channels = out
        out = min(channels * 2, 1024)
        self.convs.append(weight_norm(nn.Conv1d(channels, out, 5, padding=2)))
        self.conv_post = weight_norm(nn.Conv1d(out, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.leaky_relu(self.conv_pre(F.pad(x, (7, 7), mode="reflect")), LRELU_SLOPE)
        outputs = [x]
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            outputs.append(x)
        outputs.append(self.conv_post(x))
        return outputs


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` discriminators on the raw audio and its successive x2 average-pooled versions."""

    def __init__(self, num_scales: int, ndf: int, n_layers: int, downsampling_factor: int):
        super().__init__()
        self.discriminators = nn.ModuleList(
            NLayerDiscriminator(ndf, n_layers, downsampling_factor) for _ in range(num_scales)
        )
        self.pool = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)

    def forward(self, audio: torch.Tensor) -> list[list[torch.Tensor]]:
        results = []
        x = audio
        for i, disc in enumerate(self.discriminators):
            if i > 0:
                x = self.pool(x)
            results.append(disc(x))
        return results


class MelGAN(Vocoder):
    family = "melgan"
    presets = {
        "S": dict(ngf=16, n_residual_layers=2, disc_ndf=16),
        "M": dict(ngf=32, n_residual_layers=3, disc_ndf=16),  # official configuration
        "L": dict(ngf=64, n_residual_layers=4, disc_ndf=32),
    }

    def __init__(
        self,
        ngf: int,
        n_residual_layers: int,
        disc_ndf: int,
        ratios: list[int] = (8, 8, 2, 2),
        disc_num_scales: int = 3,
        disc_n_layers: int = 4,
        disc_downsampling_factor: int = 4,
        n_mels: int = 80,
        hop_length: int = 256,
        sample_rate: int = 16000,
        learning_rate: float = 1e-4,
        adam_betas: tuple[float, float] = (0.5, 0.9),
        feature_loss_weight: float = 10.0,
    ):
        super().__init__(n_mels=n_mels, hop_length=hop_length, sample_rate=sample_rate)
        ratios = [int(r) for r in ratios]
        check_upsampling(self.family, "ratios", ratios, hop_length)
        self.ratios = ratios
        self.generator = Generator(n_mels, ngf, n_residual_layers, ratios)
        self.disc_ndf = disc_ndf
        self.disc_num_scales = disc_num_scales
        self.disc_n_layers = disc_n_layers
        self.disc_downsampling_factor = disc_downsampling_factor
        self.learning_rate = learning_rate
        self.adam_betas = tuple(adam_betas)
        self.feature_loss_weight = feature_loss_weight

    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        return self.generator(mel).squeeze(1)

    def setup_training(self) -> None:
        self.discriminator = MultiScaleDiscriminator(
            self.disc_num_scales, self.disc_ndf, self.disc_n_layers, self.disc_downsampling_factor
        )
        self.discriminator.to(next(self.generator.parameters()).device)
        kwargs = dict(lr=self.learning_rate, betas=self.adam_betas)
        self.optimizers = [
            torch.optim.Adam(self.generator.parameters(), **kwargs),
            torch.optim.Adam(self.discriminator.parameters(), **kwargs),
        ]

    def training_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, float]:
        opt_g, opt_d = self.optimizers
        real = audio.unsqueeze(1)
        fake = self.generator(mel)
        if fake.shape[-1] != real.shape[-1]:
            raise ValueError(
                f"melgan: audio has {real.shape[-1]} samples, mel gives {fake.shape[-1]} "
                f"({mel.shape[-1]} frames x hop {self.hop_length})"
            )

        # Discriminator: hinge loss on the score map of every scale.
        real_outputs = self.discriminator(real)
        fake_outputs = self.discriminator(fake.detach())
        loss_d = sum(F.relu(1 - r[-1]).mean() + F.relu(1 + f[-1]).mean() for r, f in zip(real_outputs, fake_outputs))
        self.optimise(loss_d, opt_d)

        # Generator: feature matching against the real features computed before the discriminator
        # step (as the official code does).
        losses = self._generator_losses(fake, real_outputs)
        self.optimise(losses["loss_g"], opt_g)
        return {"loss_d": loss_d.item(), **{name: value.item() for name, value in losses.items()}}

    def generator_losses(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._generator_losses(self.generator(mel), self.discriminator(audio.unsqueeze(1)))

    def _generator_losses(self, fake: torch.Tensor, real_outputs: list) -> dict[str, torch.Tensor]:
        """Hinge adversarial loss + feature matching of ``fake`` against the real clips' feature maps."""
        fake_outputs = self.discriminator(fake)
        loss_adv = sum(-f[-1].mean() for f in fake_outputs)
        weight = (1.0 / self.disc_num_scales) * (4.0 / (self.disc_n_layers + 1))
        loss_fm = sum(
            weight * F.l1_loss(f, r.detach())
            for real_maps, fake_maps in zip(real_outputs, fake_outputs)
            for r, f in zip(real_maps[:-1], fake_maps[:-1])
        )
        loss_g = loss_adv + self.feature_loss_weight * loss_fm
        return {"loss_g": loss_g, "loss_fm": loss_fm, "loss_adv": loss_adv}
