"""WaveGrad (Chen et al., 2021): a mel-conditioned diffusion vocoder with continuous noise-level conditioning.

Network: the mel goes through a k3 convolution and a chain of UBlocks (upsampling, dilated k3 convolutions,
feature-wise affine modulation); the noisy waveform goes through a k5 convolution and a chain of DBlocks
(downsampling); after each step of the audio path a FiLM module turns its output and the positional
encoding of the noise level sqrt(alpha_bar) into a scale and a shift for the UBlock working at the same
rate. A final k3 convolution predicts the noise (one channel).

Channel lists (the layout of the authors' configurations, which reproduces Table 2's counts exactly):

* ``up_channels = [n_mels, c0, u1, ..., uN, 1]``: the mel convolution maps n_mels -> c0, UBlock i maps
  its input (c0 or u(i-1)) -> u(i), the last convolution maps uN -> 1.
* ``down_channels = [1, d0, d1, ..., d(N-1)]``: the k5 convolution maps 1 -> d0, DBlock j maps d(j-1) -> d(j).
* FiLM j reads the j-th output of the audio path (d(j)) and modulates the UBlock that works at its rate,
  UBlock N-j, whose width it produces: conv3 d(j) -> u(N-j), + positional encoding, then one conv3 each
  (u(N-j) -> u(N-j)) for the scale and the shift. ``film_width="input"`` is ivanvovk/WaveGrad's form instead:
  conv3 d(j) -> d(j), + encoding at width d(j), then the scale and shift conv3 d(j) -> u(N-j).

Sizes: S and M are the authors' small and default configurations (4,176,513 and 17,122,625 parameters);
L is not identifiable from the paper's sources (the authors' large file equals M) and is the documented
substitute "depth-doubled M": one non-upsampling UBlock (and one non-downsampling DBlock) after each
resampling one, 33,922,497 parameters (Table 2: 33.91M).

Hop: ratios derived from ``hop_length`` (256 -> [4,4,4,2,2], the paper's text; 512 -> [4,4,4,4,2], the
authors' code); the parameter count does not depend on it. The audio path downsamples by the UBlock ratios
in reverse order, leaving out the first UBlock's (that rate is the mel's own).

FLOPs (FlopCounterMode, 50 steps, 64-frame mel): hop 512 gives S 900.8 / M 3539.6 / L 6942.0 GFLOPs against
Table 2's 890.44 / 3498.64 / 8522.08 (hop 256: 643.5 / 2548.9 / 4974.8), so the paper's S and M were profiled at
hop 512 and the L substitute matches the count but not the compute of the unknown L.

Diffusion: 50-step linear beta schedule 1e-6 .. 1e-2 for training and sampling; training draws
sqrt(alpha_bar) uniformly between two consecutive points of the schedule and regresses the noise with an
L1 loss (Adam lr 1e-3, gradient norm clipped at 1); sampling is the ancestral loop from Gaussian noise,
noise injected at every step but the last: by default WaveGrad's Algorithm 2 with the iterate clamped to
[-1, 1], or (``sampler="authors"``) the authors' variant that clips a predicted clean signal instead, or
(``sampler="ivanvovk"``) ivanvovk/WaveGrad's: the exact posterior mean from a clipped clean-signal prediction.
Noise levels (alpha_bar, sqrt(alpha_bar) and the encoding) are computed in float64, then cast.

Network defaults are the authors' (the paper trained theirs): LeakyReLU slope 0.01 and noise-level encoding
frequencies 1e-4 ** linspace(0, 1, half). The WaveGrad paper's values are a hyperparameter choice:
``leaky_relu_slope=0.2, noise_encoding="wavegrad_paper"`` (frequencies 1e-4 ** (i / half)).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vocoder_energy.models.base import Vocoder
from vocoder_energy.models.blocks import check_upsampling, cumulative_alphas, linear_betas


def _conv(in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> nn.Conv1d:
    """A 'same' convolution with orthogonal weight initialisation (as in WaveGrad)."""
    padding = dilation * (kernel_size - 1) // 2
    conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation)
    nn.init.orthogonal_(conv.weight)
    return conv


def _resample(x: torch.Tensor, length: int) -> torch.Tensor:
    if x.shape[-1] == length:
        return x
    return F.interpolate(x, size=length, mode="linear", align_corners=False)


def _dilations(count: int, cycle: int) -> list[int]:
    """Dilations 2^(i mod cycle): cycle 4 -> 1, 2, 4, 8; cycle 2 -> 1, 2, 1, 2."""
    return [2 ** (i % cycle) for i in range(count)]


NOISE_ENCODINGS = ("authors", "wavegrad_paper")
SAMPLERS = ("algorithm2", "authors", "ivanvovk")
FILM_WIDTHS = ("output", "input")


class NoiseLevelEncoding(nn.Module):
    """Sinusoidal encoding of the continuous noise level sqrt(alpha_bar), scaled by C = 5000.

    Frequencies over the ``half = channels // 2`` sine (then cosine) channels: ``"authors"`` (the network
    the paper trained) 1e-4 ** linspace(0, 1, half), from 1 down to exactly 1e-4; ``"wavegrad_paper"``
    (the Transformer form the WaveGrad paper cites) 1e-4 ** (i / half), i = 0 .. half-1. Computed in
    float64 from a float64 noise level, then cast: the x5000 scale would turn float32 rounding of the
    level (~6e-8) into visible phase errors.
    """

    def __init__(self, channels: int, scale: float = 5000.0, frequencies: str = "authors"):
        super().__init__()
        if frequencies not in NOISE_ENCODINGS:
            raise ValueError(f"wavegrad: noise_encoding {frequencies!r} is not one of {NOISE_ENCODINGS}")
        self.channels = channels
        self.scale = scale
        self.kind = frequencies

    def frequencies(self, device: torch.device | str = "cpu") -> torch.Tensor:
        half = self.channels // 2
        if self.kind == "authors":
            exponents = torch.linspace(0.0, 1.0, half, dtype=torch.float64, device=device)
        else:
            exponents = torch.arange(half, dtype=torch.float64, device=device) / max(half, 1)
        return torch.pow(1e-4, exponents)

    def forward(self, noise_level: torch.Tensor) -> torch.Tensor:
        """(B,) -> (B, channels, 1), float64."""
        level = noise_level.reshape(-1, 1).to(torch.float64)
        angles = self.scale * level * self.frequencies(level.device)
        encoding = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
        if encoding.shape[1] < self.channels:  # odd width: one zero channel
            encoding = F.pad(encoding, (0, self.channels - encoding.shape[1]))
        return encoding.unsqueeze(-1)


class FiLM(nn.Module):
    """Scale and shift for a UBlock from an audio-path feature map and the noise level.

    ``width="output"`` (ours): input_conv C_in -> C_out, encoding at C_out, scale/shift conv C_out -> C_out.
    ``width="input"`` (ivanvovk/WaveGrad's): input_conv C_in -> C_in, encoding at C_in, scale/shift C_in -> C_out.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        slope: float,
        noise_scale: float,
        noise_encoding: str,
        width: str = "output",
    ):
        super().__init__()
        if width not in FILM_WIDTHS:
            raise ValueError(f"wavegrad: film_width {width!r} is not one of {FILM_WIDTHS}")
        hidden = out_channels if width == "output" else in_channels
        self.slope = slope
        self.input_conv = _conv(in_channels, hidden, 3)
        self.encoding = NoiseLevelEncoding(hidden, noise_scale, noise_encoding)
        self.scale_conv = _conv(hidden, out_channels, 3)
        self.shift_conv = _conv(hidden, out_channels, 3)

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.leaky_relu(self.input_conv(x), self.slope)
        h = h + self.encoding(noise_level).to(h.dtype)
        return self.scale_conv(h), self.shift_conv(h)


def _dilated_stack(in_channels: int, out_channels: int, dilations: list[int]) -> nn.ModuleList:
    """k3 convolutions with the given dilations; the first maps in_channels to out_channels."""
    widths = [in_channels] + [out_channels] * len(dilations)
    return nn.ModuleList(_conv(c_in, out_channels, 3, d) for c_in, d in zip(widths, dilations))


class _ResampledBlock(nn.Module):
    """A 1x1 residual and a stack of dilated k3 convolutions around a change of length by ``ratio``."""

    def __init__(self, in_channels: int, out_channels: int, ratio: int, dilations: list[int], slope: float):
        super().__init__()
        self.ratio = ratio
        self.slope = slope
        self.residual = _conv(in_channels, out_channels, 1)
        self.convs = _dilated_stack(in_channels, out_channels, dilations)


class UBlock(_ResampledBlock):
    """Upsampling block: an upsampled 1x1 residual plus two modulated residual branches of dilated k3 convolutions."""

    def forward(self, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        length = x.shape[-1] * self.ratio
        c1, c2, c3, c4 = self.convs
        # First branch: activation, upsampling, conv, modulation, activation, conv; residual 1x1 of the upsampled input.
        h = c1(_resample(F.leaky_relu(x, self.slope), length))
        h = c2(F.leaky_relu(scale * h + shift, self.slope))
        x = h + self.residual(_resample(x, length))
        # Second branch: two modulated dilated convolutions.
        h = c3(F.leaky_relu(scale * x + shift, self.slope))
        h = c4(F.leaky_relu(scale * h + shift, self.slope))
        return x + h


class DBlock(_ResampledBlock):
    """Downsampling block: three dilated k3 convolutions on the downsampled input plus a downsampled 1x1 residual."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[-1] // self.ratio
        residual = _resample(self.residual(x), length)
        h = _resample(x, length)
        for conv in self.convs:
            h = conv(F.leaky_relu(h, self.slope))
        return h + residual


class WaveGradNetwork(nn.Module):
    """The noise predictor eps(y_noisy, mel, sqrt(alpha_bar))."""

    def __init__(
        self,
        up_channels: list[int],
        down_channels: list[int],
        upsample_ratios: list[int],
        up_dilation_cycles: list[int],
        down_dilation_cycle: int,
        slope: float,
        noise_scale: float,
        noise_encoding: str,
        film_width: str = "output",
    ):
        super().__init__()
        ublock_channels = up_channels[1:-1]
        down_ratios = list(reversed(upsample_ratios))[:-1]
        self.mel_conv = _conv(up_channels[0], up_channels[1], 3)
        self.ublocks = nn.ModuleList(
            UBlock(c_in, c_out, ratio, _dilations(4, cycle), slope)
            for c_in, c_out, ratio, cycle in zip(
                ublock_channels[:-1], ublock_channels[1:], upsample_ratios, up_dilation_cycles
            )
        )
        self.output_conv = _conv(up_channels[-2], up_channels[-1], 3)
        self.audio_conv = _conv(down_channels[0], down_channels[1], 5)
        self.dblocks = nn.ModuleList(
            DBlock(c_in, c_out, ratio, _dilations(3, down_dilation_cycle), slope)
            for c_in, c_out, ratio in zip(down_channels[1:-1], down_channels[2:], down_ratios)
        )
        film_widths = list(reversed(ublock_channels[1:]))  # UBlock outputs, last block first
        self.films = nn.ModuleList(
            FiLM(d, u, slope, noise_scale, noise_encoding, film_width) for d, u in zip(down_channels[1:], film_widths)
        )

    def forward(self, noisy_audio: torch.Tensor, mel: torch.Tensor, noise_level: torch.Tensor) -> torch.Tensor:
        """(B, samples), (B, n_mels, frames), (B,) -> predicted noise (B, samples).

        ``noise_level`` is best passed in float64 (the encoding is computed in float64)."""
        y = self.audio_conv(noisy_audio.unsqueeze(1))
        modulations = [self.films[0](y, noise_level)]
        for dblock, film in zip(self.dblocks, self.films[1:]):
            y = dblock(y)
            modulations.append(film(y, noise_level))
        x = self.mel_conv(mel)
        for ublock, (scale, shift) in zip(self.ublocks, reversed(modulations)):
            x = ublock(x, scale, shift)
        return self.output_conv(x).squeeze(1)


def default_upsample_ratios(hop_length: int, n_stages: int, blocks_per_stage: int = 1) -> list[int]:
    """Ratios for ``n_stages`` upsampling blocks whose product is ``hop_length``.

    256 -> [4, 4, 4, 2, 2] (the paper's text), 512 -> [4, 4, 4, 4, 2] (the authors' code): powers of two
    split greedily into factors of 4 then 2. With ``blocks_per_stage`` > 1 each upsampling block is
    followed by that many minus one ratio-1 blocks (L: [4, 1, 4, 1, 4, 1, 2, 1, 2, 1] for 256).
    """
    exponent = int(hop_length).bit_length() - 1
    if hop_length < 1 or 2**exponent != hop_length or not n_stages <= exponent <= 2 * n_stages:
        raise ValueError(
            f"wavegrad: cannot derive {n_stages} upsampling ratios (each 2 or 4) for hop_length {hop_length}; "
            "pass upsample_ratios explicitly"
        )
    ratios = []
    for remaining_blocks in range(n_stages, 0, -1):
        step = 2 if exponent - 2 >= remaining_blocks - 1 else 1
        ratios.append(2**step)
        exponent -= step
    return [r for ratio in ratios for r in [ratio] + [1] * (blocks_per_stage - 1)]


class WaveGrad(Vocoder):
    family = "wavegrad"
    inference_options = ("inference_steps", "inference_noise_schedule", "sampler")
    presets = {
        "S": dict(  # the authors' small.yaml
            up_channels=[80, 256, 256, 256, 128, 64, 64, 1],
            down_channels=[1, 32, 64, 64, 128, 256],
            up_dilation_cycles=[4, 4, 4, 2, 2],
            down_dilation_cycle=2,
            blocks_per_stage=1,
        ),
        "M": dict(  # the authors' default.yaml: the canonical WaveGrad base widths
            up_channels=[80, 768, 512, 512, 256, 128, 128, 1],
            down_channels=[1, 32, 128, 128, 256, 512],
            up_dilation_cycles=[4, 4, 4, 2, 2],
            down_dilation_cycle=2,
            blocks_per_stage=1,
        ),
        "L": dict(  # substitute (not identifiable): depth-doubled M
            up_channels=[80, 768, 512, 512, 512, 512, 256, 256, 128, 128, 128, 128, 1],
            down_channels=[1, 32, 32, 128, 128, 128, 128, 256, 256, 512, 512],
            up_dilation_cycles=[4, 4, 4, 4, 4, 4, 2, 2, 2, 2],
            down_dilation_cycle=2,
            blocks_per_stage=2,
        ),
    }

    def __init__(
        self,
        up_channels: list[int],
        down_channels: list[int],
        up_dilation_cycles: list[int],
        down_dilation_cycle: int = 2,
        blocks_per_stage: int = 1,
        upsample_ratios: list[int] | None = None,
        n_mels: int = 80,
        hop_length: int = 256,
        sample_rate: int = 16000,
        train_steps: int = 50,
        beta_start: float = 1e-6,
        beta_end: float = 1e-2,
        train_noise_schedule: list[float] | None = None,
        inference_steps: int = 50,
        inference_noise_schedule: list[float] | None = None,
        learning_rate: float = 1e-3,
        grad_clip_norm: float = 1.0,
        leaky_relu_slope: float = 0.01,
        noise_level_scale: float = 5000.0,
        noise_encoding: str = "authors",
        film_width: str = "output",
        sampler: str = "algorithm2",
    ):
        """``train_noise_schedule`` / ``inference_noise_schedule`` are explicit beta lists; when None they are
        ``linspace(beta_start, beta_end, train_steps)`` / ``linspace(beta_start, beta_end, inference_steps)``.
        An explicit inference schedule sets the number of inference steps to its length.

        ``leaky_relu_slope`` 0.01 and ``noise_encoding="authors"`` are the network the paper trained (the
        authors' code); the WaveGrad paper's own network has slope 0.2 and ``"wavegrad_paper"``.
        ``film_width``: ``"output"`` (ours: the FiLM's first conv maps to the UBlock's width, the encoding at that
        width) or ``"input"`` (ivanvovk/WaveGrad's released model: first conv and encoding at the audio-path
        width, the scale and shift convs map to the UBlock's width); see ``FiLM``.
        ``sampler``: ``"algorithm2"`` (WaveGrad's Algorithm 2), ``"authors"`` (the authors' code: clipped
        clean-signal prediction and posterior mean, see ``_step_authors``) or ``"ivanvovk"`` (ivanvovk/WaveGrad:
        the exact posterior mean from a clipped clean-signal prediction, see ``_step_ivanvovk``)."""
        super().__init__(n_mels=n_mels, hop_length=hop_length, sample_rate=sample_rate)
        up_channels, down_channels = [int(c) for c in up_channels], [int(c) for c in down_channels]
        n_ublocks = len(up_channels) - 3
        if n_ublocks < 1 or up_channels[0] != n_mels or up_channels[-1] != 1:
            raise ValueError(
                f"wavegrad: up_channels must be [n_mels={n_mels}, first conv, UBlock outputs..., 1], got {up_channels}"
            )
        if len(down_channels) != n_ublocks + 1 or down_channels[0] != 1:
            raise ValueError(
                f"wavegrad: down_channels must be [1, first conv, DBlock outputs...] with {n_ublocks + 1} entries "
                f"(one audio-path output per UBlock), got {down_channels}"
            )
        if len(up_dilation_cycles) != n_ublocks:
            raise ValueError(f"wavegrad: up_dilation_cycles needs {n_ublocks} entries, got {up_dilation_cycles}")
        if blocks_per_stage < 1 or n_ublocks % blocks_per_stage:
            raise ValueError(f"wavegrad: {n_ublocks} UBlocks cannot be grouped by blocks_per_stage={blocks_per_stage}")
        if upsample_ratios is None:
            upsample_ratios = default_upsample_ratios(hop_length, n_ublocks // blocks_per_stage, blocks_per_stage)
        upsample_ratios = [int(r) for r in upsample_ratios]
        if len(upsample_ratios) != n_ublocks or min(upsample_ratios) < 1:
            raise ValueError(f"wavegrad: upsample_ratios needs {n_ublocks} positive entries, got {upsample_ratios}")
        check_upsampling(self.family, "upsample_ratios", upsample_ratios, hop_length)
        if sampler not in SAMPLERS:
            raise ValueError(f"wavegrad: sampler {sampler!r} is not one of {SAMPLERS}")
        self.sampler = sampler
        self.upsample_ratios = upsample_ratios
        self.generator = WaveGradNetwork(
            up_channels,
            down_channels,
            upsample_ratios,
            [int(c) for c in up_dilation_cycles],
            int(down_dilation_cycle),
            leaky_relu_slope,
            noise_level_scale,
            noise_encoding,
            film_width,
        )
        if train_noise_schedule is None:
            train_noise_schedule = linear_betas(beta_start, beta_end, train_steps)
        if inference_noise_schedule is None:
            inference_noise_schedule = linear_betas(beta_start, beta_end, inference_steps)
        for name, betas in (("train", train_noise_schedule), ("inference", inference_noise_schedule)):
            if len(betas) < 1 or not all(0.0 < float(b) < 1.0 for b in betas):
                raise ValueError(f"wavegrad: the {name} noise schedule needs betas in (0, 1), got {betas}")
        self.train_betas = [float(b) for b in train_noise_schedule]
        self.inference_betas = [float(b) for b in inference_noise_schedule]
        self.inference_steps = len(self.inference_betas)
        self.learning_rate = learning_rate
        self.grad_clip_norm = grad_clip_norm

    # ----------------------------------------------------------------- inference
    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        """Ancestral sampling over the inference schedule from Gaussian noise, by ``self.sampler``.

        Noise levels are computed in float64 and reach the network in float64 (see NoiseLevelEncoding)."""
        betas = self.inference_betas
        alpha_bars = [1.0, *cumulative_alphas(betas)]  # alpha_bar_0 = 1, ..., alpha_bar_N
        step = {
            "algorithm2": self._step_algorithm2,
            "authors": self._step_authors,
            "ivanvovk": self._step_ivanvovk,
        }[self.sampler]
        batch, _, frames = mel.shape
        y = torch.randn(batch, frames * self.hop_length, device=mel.device, dtype=mel.dtype)
        for n in range(len(betas), 0, -1):
            beta, alpha_bar, alpha_bar_prev = betas[n - 1], alpha_bars[n], alpha_bars[n - 1]
            noise_level = torch.full((batch,), math.sqrt(alpha_bar), device=mel.device, dtype=torch.float64)
            eps = self.generator(y, mel, noise_level)
            y = step(y, eps, beta, alpha_bar, alpha_bar_prev)
            if n > 1:
                y = y + math.sqrt(beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)) * torch.randn_like(y)
            if self.sampler == "algorithm2":
                # Clamped at every step, as lmnt-com's WaveGrad and DiffWave samplers do: an undertrained
                # network otherwise drives the iterate to inf (and NaN) over 50 steps.
                y = y.clamp(-1.0, 1.0)
        return y

    @staticmethod
    def _step_algorithm2(y, eps, beta: float, alpha_bar: float, alpha_bar_prev: float) -> torch.Tensor:
        """WaveGrad's Algorithm 2 mean: (y - beta / sqrt(1 - alpha_bar) * eps) / sqrt(1 - beta)."""
        return (y - beta / math.sqrt(1.0 - alpha_bar) * eps) / math.sqrt(1.0 - beta)

    @staticmethod
    def _step_authors(y, eps, beta: float, alpha_bar: float, alpha_bar_prev: float) -> torch.Tensor:
        """The authors' sampler mean: the clean signal predicted as y / sqrt(alpha_bar) - sqrt(1 - alpha_bar) * eps
        (the exact inverse has sqrt(1 / alpha_bar - 1)), clipped to [-1, 1], then the posterior mean with
        sqrt(alpha_bar) where the posterior has sqrt(1 - beta). The last step returns the clipped prediction."""
        clean = (y / math.sqrt(alpha_bar) - math.sqrt(1.0 - alpha_bar) * eps).clamp(-1.0, 1.0)
        to_clean = math.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar)
        to_noisy = math.sqrt(alpha_bar) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
        return to_clean * clean + to_noisy * y

    @staticmethod
    def _step_ivanvovk(y, eps, beta: float, alpha_bar: float, alpha_bar_prev: float) -> torch.Tensor:
        """ivanvovk/WaveGrad's mean (model/diffusion_process.py): the clean signal predicted exactly,
        sqrt(1 / alpha_bar) * y - sqrt(1 - alpha_bar) * sqrt(1 / alpha_bar) * eps, clipped to [-1, 1], then the
        exact posterior mean (sqrt(1 - beta) on y). The last step returns the clipped prediction."""
        recip = math.sqrt(1.0 / alpha_bar)
        clean = (recip * y - math.sqrt(1.0 - alpha_bar) * recip * eps).clamp(-1.0, 1.0)
        to_clean = beta * math.sqrt(alpha_bar_prev) / (1.0 - alpha_bar)
        to_noisy = (1.0 - alpha_bar_prev) * math.sqrt(1.0 - beta) / (1.0 - alpha_bar)
        return to_clean * clean + to_noisy * y

    # ------------------------------------------------------------------ training
    def setup_training(self) -> None:
        self.optimizers = [torch.optim.Adam(self.generator.parameters(), lr=self.learning_rate)]

    def diffusion_loss(self, audio: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """L1 between the true and the predicted noise at a continuous noise level drawn per item.

        The step s is uniform over the training schedule and sqrt(alpha_bar) uniform between sqrt(alpha_bar_(s-1))
        and sqrt(alpha_bar_s). Random draws use the global CPU generator (then move to the device), so a run
        restored from its RNG state draws the same noise on any device.
        """
        batch, samples = audio.shape
        if samples != mel.shape[-1] * self.hop_length:
            raise ValueError(f"wavegrad: {samples} audio samples for {mel.shape[-1]} frames at hop {self.hop_length}")
        levels = torch.tensor([1.0, *cumulative_alphas(self.train_betas)], dtype=torch.float64).sqrt()
        step = torch.randint(1, len(self.train_betas) + 1, (batch,))
        u = torch.rand(batch, dtype=torch.float64)
        noise_level = levels[step - 1] + u * (levels[step] - levels[step - 1])
        noise = torch.randn(batch, samples).to(device=audio.device, dtype=audio.dtype)
        signal_scale = noise_level[:, None].to(device=audio.device, dtype=audio.dtype)
        noise_scale = torch.sqrt(1.0 - noise_level[:, None] ** 2).to(device=audio.device, dtype=audio.dtype)
        noisy = signal_scale * audio + noise_scale * noise
        return F.l1_loss(self.generator(noisy, mel, noise_level.to(audio.device)), noise)

    def generator_losses(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": self.diffusion_loss(audio, mel)}

    def training_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, float]:
        (optimizer,) = self.optimizers
        loss = self.generator_losses(audio, mel)["loss"]
        grad_norm = self.optimise(loss, optimizer, self.grad_clip_norm)
        return {"loss": loss.item(), "grad_norm": float(grad_norm)}
