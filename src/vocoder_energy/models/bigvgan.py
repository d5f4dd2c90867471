"""BigVGAN-v2 (Lee et al., 2023; NVIDIA/BigVGAN v2.4): anti-aliased multi-periodicity (AMP) generator,
multi-period + multi-scale sub-band CQT discriminators, multi-scale mel loss.

The generator is the authors' PyTorch path (not the fused CUDA activation): a transposed-convolution
upsampler per stage with no activation before it, three AMP blocks per stage (kernels 3, 7, 11,
dilations 1, 3, 5) whose every convolution is preceded by an anti-aliased Snake/SnakeBeta activation
(``Activation1d``: x2 upsampling, activation, x2 downsampling through a 12-tap Kaiser-windowed sinc),
a last anti-aliased activation and convolution, then clamp to [-1, 1] (v2) or tanh (v1).

Sizes at 16 kHz, hop 256, 80 mels (the products of both published topologies are 256):

* ``S``: the published base generator (``bigvgan_base_*``: 512 channels, rates 8, 8, 2, 2);
* ``L``: the published full v2 generator (``bigvgan_v2_*_256x``: 1536 channels, rates 4, 4, 2, 2, 2, 2);
* ``M``: the full topology at half width (768 channels), the paper's channel variation for sizes.

All three use SnakeBeta with log-scale parameters and the v2 end (no tanh, no bias in ``conv_post``).
With weight norm S has 13,953,473 parameters (the published base: 13,953,474, one more for its
``conv_post`` bias), M 28,302,025 and L 112,231,249 (as published for ``bigvgan_v2_22khz_80band_256x``).

Weights of the authors' checkpoints map one to one onto ``generator.state_dict()``: every key is the
same except that weight norm is a parametrization here, ``<layer>.weight_g`` ->
``<layer>.parametrizations.weight.original0`` and ``<layer>.weight_v`` ->
``<layer>.parametrizations.weight.original1`` (a weight-norm-free checkpoint loads after
``prepare_inference``). The anti-aliasing filters are persistent buffers under the authors' names
(``...upsample.filter``, ``...downsample.lowpass.filter``).

Training is the v2 recipe: least-squares GAN against MPD (periods 2, 3, 5, 7, 11) and MS-SB-CQTD
(``discriminator="cqtd"``; nnAudio's CQT2010v2 after x2 sinc resampling) or the v1 multi-resolution
discriminator (``discriminator="mrd"``); feature matching (x2); 15 x the multi-scale mel loss; AdamW
(0.8, 0.99) at 1e-4 decaying by 0.9999996 every step; gradients clipped to norm 500 for the generator and
for each discriminator separately; discriminators step first.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from vocoder_energy.data.audio import spectrogram
from vocoder_energy.models.base import Vocoder, weight_norm
from vocoder_energy.models.blocks import check_upsampling
from vocoder_energy.models.hifigan import PeriodDiscriminator
from vocoder_energy.training import step_lr

LRELU_SLOPE = 0.1
SNAKE_EPSILON = 1e-9  # keeps 1 / b finite


# ----------------------------------------------------------------------------- anti-aliasing
def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> list[float]:
    """Taps of a Kaiser-windowed sinc low-pass (cutoff and transition half-width in cycles per sample),
    normalised to sum 1 (no leak of a constant); the window's beta follows Kaiser's formula for the
    attenuation the transition width allows. Computed on the CPU, so it needs no tensor of the module
    being built (meta device), in float32 like the authors' (the published buffers to the bit; a float64
    computation differs from them by up to 2.6e-8)."""
    if not 0 < cutoff <= 0.5:
        raise ValueError(f"cutoff must be in (0, 0.5] cycles per sample, got {cutoff}")
    half = kernel_size // 2
    attenuation = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21.0) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    cpu = dict(dtype=torch.float32, device="cpu")
    window = torch.kaiser_window(kernel_size, periodic=False, beta=beta, **cpu)
    if kernel_size % 2 == 0:
        time = torch.arange(-half, half, device="cpu") + 0.5
    else:
        time = (torch.arange(kernel_size, device="cpu") - half).to(torch.float32)
    taps = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
    return (taps / taps.sum()).tolist()


def _filter_buffer(ratio: int, kernel_size: int) -> torch.Tensor:
    """(1, 1, kernel) float32 low-pass at the new Nyquist of a x``ratio`` resampling, on the default device."""
    taps = kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, kernel_size)
    return torch.tensor(taps, dtype=torch.float32).view(1, 1, kernel_size)


class UpSample1d(nn.Module):
    """x``ratio`` upsampling: replicate padding, zero-stuffing transposed convolution with ``ratio`` x the
    low-pass, crop back to ``ratio`` x the input length."""

    def __init__(self, ratio: int = 2, kernel_size: int = 12):
        super().__init__()
        self.ratio = ratio
        self.pad = kernel_size // ratio - 1
        self.crop_left = self.pad * ratio + (kernel_size - ratio) // 2
        self.crop_right = self.pad * ratio + (kernel_size - ratio + 1) // 2
        self.register_buffer("filter", _filter_buffer(ratio, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = F.conv_transpose1d(x, self.filter.expand(channels, -1, -1), stride=self.ratio, groups=channels)
        return self.ratio * x[..., self.crop_left : x.shape[-1] - self.crop_right]


class LowPassFilter1d(nn.Module):
    """Depthwise low-pass with replicate padding (kernel//2 - 1 left, kernel//2 right for an even
    kernel), applied every ``stride`` samples."""

    def __init__(self, ratio: int = 2, kernel_size: int = 12, stride: int = 1):
        super().__init__()
        even = kernel_size % 2 == 0
        self.pad_left = kernel_size // 2 - int(even)
        self.pad_right = kernel_size // 2
        self.stride = stride
        self.register_buffer("filter", _filter_buffer(ratio, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(channels, -1, -1), stride=self.stride, groups=channels)


class DownSample1d(nn.Module):
    """x``ratio`` downsampling: the low-pass, kept every ``ratio``-th sample."""

    def __init__(self, ratio: int = 2, kernel_size: int = 12):
        super().__init__()
        self.lowpass = LowPassFilter1d(ratio, kernel_size, stride=ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class Activation1d(nn.Module):
    """An activation applied at twice the sample rate, so that the harmonics it creates above the
    original Nyquist are filtered out instead of aliasing: upsample, ``act``, downsample.

    The seam for a fused (GPU) implementation: a replacement takes the same ``act`` parameters and
    buffers, so it can be swapped in at inference without touching the weights."""

    def __init__(self, act: nn.Module, ratio: int = 2, kernel_size: int = 12):
        super().__init__()
        self.act = act
        self.upsample = UpSample1d(ratio, kernel_size)
        self.downsample = DownSample1d(ratio, kernel_size)
        self.fused = None  # (x, up filter, down filter, log a, log b) -> y on CUDA; see BigVGAN.activation_kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.runs_fused(x):
            return self.fused(x.contiguous(), *self.fused_arguments(x.dtype))
        return self.downsample(self.act(self.upsample(x)))

    def fused_arguments(self, dtype: torch.dtype) -> list[torch.Tensor]:
        """Up filter, down filter, log a, log b: contiguous, in the input's dtype (the kernel reads them so)."""
        alpha = self.act.alpha if self.act.logscale else torch.log(self.act.alpha)
        beta = getattr(self.act, "beta", self.act.alpha)  # Snake: b = a
        beta = beta if self.act.logscale else torch.log(beta)
        tensors = (self.upsample.filter, self.downsample.lowpass.filter, alpha, beta)
        return [t.detach().to(dtype).contiguous() for t in tensors]

    def runs_fused(self, x: torch.Tensor) -> bool:
        # Forward only (NVIDIA's kernel has no backward): never inside training's autograd.
        return self.fused is not None and x.device.type == "cuda" and not torch.is_grad_enabled()


NVIDIA_KERNEL_MODULE = "alias_free_activation.cuda.activation1d"


def nvidia_fused_activation():
    """NVIDIA's fused anti-aliased activation (forward only), from the user's own checkout of
    NVIDIA/BigVGAN on ``PYTHONPATH``: importing it builds their CUDA kernel with nvcc. Not shipped here."""
    try:
        module = importlib.import_module(NVIDIA_KERNEL_MODULE)
    except Exception as err:  # missing checkout, no nvcc, a failed build: say which, and the way out
        raise ValueError(
            f"inference.bigvgan.activation_kernel: nvidia needs NVIDIA's BigVGAN repository on PYTHONPATH "
            f"(its {NVIDIA_KERNEL_MODULE} builds the fused kernel with nvcc), which failed: "
            f"{type(err).__name__}: {err}; use activation_kernel: torch (the same arithmetic, unfused)"
        ) from None
    return module.FusedAntiAliasActivation.apply


class Snake(nn.Module):
    """x + sin^2(a x) / a per channel (Ziyin et al., 2020); with ``logscale`` the parameter is log a
    (initialised to 0, a = 1), otherwise a itself (initialised to 1)."""

    def __init__(self, channels: int, logscale: bool = True):
        super().__init__()
        self.logscale = logscale
        self.alpha = nn.Parameter(torch.zeros(channels) if logscale else torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha[None, :, None]
        if self.logscale:
            alpha = torch.exp(alpha)
        return x + (1.0 / (alpha + SNAKE_EPSILON)) * torch.sin(x * alpha).pow(2)


class SnakeBeta(nn.Module):
    """x + sin^2(a x) / b per channel: Snake with a separate magnitude b (log-scale like a)."""

    def __init__(self, channels: int, logscale: bool = True):
        super().__init__()
        self.logscale = logscale
        init = torch.zeros if logscale else torch.ones
        self.alpha = nn.Parameter(init(channels))
        self.beta = nn.Parameter(init(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha, beta = self.alpha[None, :, None], self.beta[None, :, None]
        if self.logscale:
            alpha, beta = torch.exp(alpha), torch.exp(beta)
        return x + (1.0 / (beta + SNAKE_EPSILON)) * torch.sin(x * alpha).pow(2)


ACTIVATIONS = {"snake": Snake, "snakebeta": SnakeBeta}


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


# ----------------------------------------------------------------------------- generator
class AMPBlock1(nn.Module):
    """Per dilation d: x + conv2(act(conv1_d(act(x)))); ``activations`` alternate (before conv1, before conv2)."""

    def __init__(self, channels: int, kernel_size: int, dilations: list[int], activation: str, logscale: bool):
        super().__init__()
        self.convs1 = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d)))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, padding=_padding(kernel_size))) for _ in dilations
        )
        act = ACTIVATIONS[activation]
        self.activations = nn.ModuleList(Activation1d(act(channels, logscale)) for _ in range(2 * len(dilations)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv1, conv2, act1, act2 in zip(self.convs1, self.convs2, self.activations[::2], self.activations[1::2]):
            x = conv2(act2(conv1(act1(x)))) + x
        return x


class AMPBlock2(nn.Module):
    """Per dilation d: x + conv_d(act(x))."""

    def __init__(self, channels: int, kernel_size: int, dilations: list[int], activation: str, logscale: bool):
        super().__init__()
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d)))
            for d in dilations
        )
        act = ACTIVATIONS[activation]
        self.activations = nn.ModuleList(Activation1d(act(channels, logscale)) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, act in zip(self.convs, self.activations):
            x = conv(act(x)) + x
        return x


class Generator(nn.Module):
    """Mel (B, n_mels, T) -> audio (B, 1, T x prod(upsample_rates)); module names as the authors'."""

    def __init__(
        self,
        n_mels: int,
        upsample_initial_channel: int,
        upsample_rates: list[int],
        upsample_kernel_sizes: list[int],
        resblock: str,
        resblock_kernel_sizes: list[int],
        resblock_dilation_sizes: list[list[int]],
        activation: str,
        snake_logscale: bool,
        use_tanh_at_final: bool,
        use_bias_at_final: bool,
    ):
        super().__init__()
        block = {"1": AMPBlock1, "2": AMPBlock2}[str(resblock)]
        self.num_kernels = len(resblock_kernel_sizes)
        self.use_tanh_at_final = use_tanh_at_final
        self.conv_pre = weight_norm(nn.Conv1d(n_mels, upsample_initial_channel, 7, padding=3))
        # One-layer ModuleLists: the authors' key names are ups.{i}.0.*
        self.ups = nn.ModuleList()
        for i, (rate, kernel) in enumerate(zip(upsample_rates, upsample_kernel_sizes)):
            c_in, c_out = upsample_initial_channel // 2**i, upsample_initial_channel // 2 ** (i + 1)
            up = nn.ConvTranspose1d(c_in, c_out, kernel, rate, padding=(kernel - rate) // 2)
            self.ups.append(nn.ModuleList([weight_norm(up)]))
        self.resblocks = nn.ModuleList()
        channels = upsample_initial_channel
        for i in range(len(upsample_rates)):
            channels = upsample_initial_channel // 2 ** (i + 1)
            for k, dilations in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(channels, k, dilations, activation, snake_logscale))
        self.activation_post = Activation1d(ACTIVATIONS[activation](channels, snake_logscale))
        self.conv_post = weight_norm(nn.Conv1d(channels, 1, 7, padding=3, bias=use_bias_at_final))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            for layer in up:
                x = layer(x)
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            total = blocks[0](x)
            for block in blocks[1:]:
                total = total + block(x)
            x = total / self.num_kernels
        x = self.conv_post(self.activation_post(x))
        return torch.tanh(x) if self.use_tanh_at_final else torch.clamp(x, -1.0, 1.0)


# ----------------------------------------------------------------------------- discriminators
class SincResample(nn.Module):
    """Band-limited resampling by ``new / orig`` (torchaudio's ``Resample`` defaults: Hann-windowed sinc,
    6 zero crossings, roll-off 0.99; kernel computed in float64, kept as a float32 buffer ``kernel``)."""

    def __init__(self, orig_freq: int, new_freq: int, zero_crossings: int = 6, rolloff: float = 0.99):
        super().__init__()
        gcd = math.gcd(orig_freq, new_freq)
        self.orig, self.new = orig_freq // gcd, new_freq // gcd
        base = min(self.orig, self.new) * rolloff
        self.width = math.ceil(zero_crossings * self.orig / base)
        cpu = dict(dtype=torch.float64, device="cpu")
        idx = torch.arange(-self.width, self.width + self.orig, **cpu)[None, None] / self.orig
        t = (torch.arange(0, -self.new, -1, **cpu)[:, None, None] / self.new + idx) * base
        t = t.clamp(-zero_crossings, zero_crossings)
        window = torch.cos(t * math.pi / zero_crossings / 2) ** 2
        t = t * math.pi
        kernel = torch.where(t == 0, torch.ones_like(t), t.sin() / t) * (window * (base / self.orig))
        self.register_buffer("kernel", torch.tensor(kernel.tolist(), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, 1, shape[-1])
        y = F.conv1d(F.pad(x, (self.width, self.width + self.orig)), self.kernel, stride=self.orig)
        y = y.transpose(1, 2).reshape(x.shape[0], -1)[..., : math.ceil(self.new * shape[-1] / self.orig)]
        return y.reshape(*shape[:-1], y.shape[-1])


def _padding_2d(kernel: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    return ((kernel[0] - 1) * dilation[0]) // 2, ((kernel[1] - 1) * dilation[1]) // 2


class CQTDiscriminator(nn.Module):
    """One scale of MS-SB-CQTD (Gu et al., 2024): the audio resampled x2, a complex CQT (nnAudio's
    CQT2010v2: C1 = 32.70 Hz up, ``n_octaves`` x ``bins_per_octave`` bins), real and imaginary parts
    as two channels over (time, bin), one convolution per octave (sub-band), then a 2-D stack."""

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        n_octaves: int,
        bins_per_octave: int,
        filters: int = 128,
        max_filters: int = 1024,
        filters_scale: int = 1,
        dilations: tuple[int, ...] = (1, 2, 4),
        in_channels: int = 1,
        out_channels: int = 1,
        normalize_volume: bool = False,
    ):
        super().__init__()
        from nnAudio.features.cqt import CQT2010v2  # only training needs it

        kernel = (3, 9)
        self.n_octaves, self.bins_per_octave = n_octaves, bins_per_octave
        self.normalize_volume = normalize_volume
        self.resample = SincResample(sample_rate, 2 * sample_rate)
        self.cqt_transform = CQT2010v2(
            sr=2 * sample_rate,
            hop_length=hop_length,
            n_bins=bins_per_octave * n_octaves,
            bins_per_octave=bins_per_octave,
            output_format="Complex",
            pad_mode="constant",
            verbose=False,
        )
        self.conv_pres = nn.ModuleList(
            nn.Conv2d(2 * in_channels, 2 * in_channels, kernel, padding=_padding_2d(kernel)) for _ in range(n_octaves)
        )
        self.convs = nn.ModuleList([nn.Conv2d(2 * in_channels, filters, kernel, padding=_padding_2d(kernel))])
        c_in = min(filters_scale * filters, max_filters)
        for i, d in enumerate(dilations):
            c_out = min(filters_scale ** (i + 1) * filters, max_filters)
            conv = nn.Conv2d(c_in, c_out, kernel, (1, 2), dilation=(d, 1), padding=_padding_2d(kernel, (d, 1)))
            self.convs.append(weight_norm(conv))
            c_in = c_out
        c_out = min(filters_scale ** (len(dilations) + 1) * filters, max_filters)
        square = (kernel[0], kernel[0])
        self.convs.append(weight_norm(nn.Conv2d(c_in, c_out, square, padding=_padding_2d(square))))
        self.conv_post = weight_norm(nn.Conv2d(c_out, out_channels, square, padding=_padding_2d(square)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if self.normalize_volume:  # DC removed, peak at 0.8
            x = x - x.mean(dim=-1, keepdim=True)
            x = 0.8 * x / (x.abs().amax(dim=-1, keepdim=True) + 1e-9)
        z = self.cqt_transform(self.resample(x))  # (B, bins, frames, [re, im])
        z = z.permute(0, 3, 2, 1)  # (B, 2, frames, bins)
        bins = self.bins_per_octave
        x = torch.cat([conv(z[..., i * bins : (i + 1) * bins]) for i, conv in enumerate(self.conv_pres)], dim=-1)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        return self.conv_post(x), features


class ResolutionDiscriminator(nn.Module):
    """One resolution of UnivNet's MRD (BigVGAN-v1): |STFT| (rectangular window of ``win_length``,
    reflect-padded (n_fft - hop) / 2 each side, not centred) through a 2-D stack."""

    def __init__(self, n_fft: int, hop_length: int, win_length: int, channels: int = 32):
        super().__init__()
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        wide, square = (3, 9), (3, 3)
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(1, channels, wide, padding=(1, 4))),
                *(weight_norm(nn.Conv2d(channels, channels, wide, (1, 2), padding=(1, 4))) for _ in range(3)),
                weight_norm(nn.Conv2d(channels, channels, square, padding=(1, 1))),
            ]
        )
        self.conv_post = weight_norm(nn.Conv2d(channels, 1, square, padding=(1, 1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        pad = (self.n_fft - self.hop_length) // 2
        x = x.to(torch.promote_types(x.dtype, torch.float32))  # no half-precision FFT on CUDA or in MKL
        x = F.pad(x, (pad, pad), mode="reflect").squeeze(1)
        # A rectangular window of win_length, as the authors' (who pass none, torch's default).
        window = torch.ones(self.win_length, device=x.device, dtype=x.dtype)
        spec = torch.stft(x, self.n_fft, self.hop_length, self.win_length, window, center=False, return_complex=True)
        x = torch.linalg.vector_norm(torch.view_as_real(spec), dim=-1).unsqueeze(1)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.conv_post(x)
        features.append(x)
        return x.flatten(1), features


def cqt_octaves(sample_rate: int, bins_per_octave: int, octaves: int = 9, fmin: float = 32.70) -> int:
    """The recipe's ``octaves`` (9) from C1, or fewer until the top bin stays below the CQT's Nyquist
    (the sample rate itself, after the x2 resampling): 9 at 22.05 kHz and above, 8 at 16 kHz."""
    while octaves > 1 and fmin * 2 ** ((octaves * bins_per_octave - 1) / bins_per_octave) > sample_rate:
        octaves -= 1
    return octaves


class Discriminators(nn.Module):
    """MPD plus MS-SB-CQTD (``kind="cqtd"``, v2) or MRD (``kind="mrd"``, v1). ``groups`` are clipped separately."""

    def __init__(
        self,
        sample_rate: int,
        kind: str,
        periods: tuple[int, ...],
        cqtd: dict,
        mrd_resolutions: tuple[tuple[int, int, int], ...],
    ):
        super().__init__()
        self.mpd = nn.ModuleList(PeriodDiscriminator(p) for p in periods)
        if kind == "cqtd":
            scales = zip(cqtd["hop_lengths"], cqtd["n_octaves"], cqtd["bins_per_octaves"])
            common = {k: v for k, v in cqtd.items() if k not in ("hop_lengths", "n_octaves", "bins_per_octaves")}
            self.cqtd = nn.ModuleList(
                CQTDiscriminator(sample_rate, hop, octaves, bins, **common) for hop, octaves, bins in scales
            )
            self.groups = [self.mpd, self.cqtd]
        else:
            self.mrd = nn.ModuleList(ResolutionDiscriminator(*resolution) for resolution in mrd_resolutions)
            self.groups = [self.mpd, self.mrd]

    def forward(self, audio: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        scores, features = [], []
        for disc in itertools.chain(*self.groups):
            score, feats = disc(audio)
            scores.append(score)
            features.append(feats)
        return scores, features


# ----------------------------------------------------------------------------- losses
@functools.lru_cache(maxsize=64)
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int, device: str, dtype: torch.dtype) -> torch.Tensor:
    """librosa's Slaney mel filters (fmin 0, fmax sr/2); small windows leave some filters empty (as the
    authors' loss does), so librosa's warning about it is silenced."""
    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=None)
    return torch.from_numpy(basis).to(device=device, dtype=dtype)


def check_mel_loss_length(samples: int, window_lengths: tuple[int, ...]) -> None:
    if samples <= max(window_lengths) // 2:
        raise ValueError(
            f"bigvgan: the multi-scale mel loss needs clips longer than {max(window_lengths) // 2} samples (half its "
            f"longest window, for the reflect padding); got {samples}"
        )


def multiscale_mel_loss(
    estimate: torch.Tensor,
    target: torch.Tensor,
    sample_rate: int,
    n_mels: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320),
    window_lengths: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048),
    clamp_eps: float = 1e-5,
) -> torch.Tensor:
    """Sum over scales of the L1 distance of log10 magnitude mels (descript-audio-codec's, as BigVGAN-v2
    trains with): Hann window w, hop w/4, centred reflect-padded STFT, every frame kept."""
    check_mel_loss_length(estimate.shape[-1], window_lengths)
    pair = torch.cat([estimate, target])
    pair = pair.to(torch.promote_types(pair.dtype, torch.float32))
    with torch.autocast(pair.device.type, enabled=False):  # the recipe's fp32 (its 1e-5 floor is subnormal in fp16)
        return _multiscale_mel_l1(pair, sample_rate, n_mels, window_lengths, clamp_eps)


def _multiscale_mel_l1(pair, sample_rate, n_mels, window_lengths, clamp_eps) -> torch.Tensor:
    loss = pair.new_zeros(())
    for mels, window in zip(n_mels, window_lengths):
        magnitude = spectrogram(pair.reshape(-1, pair.shape[-1]), n_fft=window, hop_length=window // 4, power=1.0)
        mel = torch.matmul(_mel_filters(sample_rate, window, mels, str(pair.device), magnitude.dtype), magnitude)
        log_mel = torch.log10(mel.clamp(min=clamp_eps))
        loss = loss + F.l1_loss(*log_mel.chunk(2))
    return loss


def feature_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """2 x the summed mean absolute differences of the discriminators' feature maps (real detached)."""
    return 2 * sum(torch.mean(torch.abs(r.detach() - f)) for rs, fs in zip(real, fake) for r, f in zip(rs, fs))


def generator_adversarial_loss(fake_scores: list[torch.Tensor]) -> torch.Tensor:
    return sum(torch.mean((1 - f) ** 2) for f in fake_scores)


def discriminator_loss(real_scores: list[torch.Tensor], fake_scores: list[torch.Tensor]) -> torch.Tensor:
    return sum(torch.mean((1 - r) ** 2) + torch.mean(f**2) for r, f in zip(real_scores, fake_scores))


# ----------------------------------------------------------------------------- the family
FULL_TOPOLOGY = dict(upsample_rates=[4, 4, 2, 2, 2, 2], upsample_kernel_sizes=[8, 8, 4, 4, 4, 4])


class BigVGAN(Vocoder):
    family = "bigvgan"
    # activation_kernel "nvidia": NVIDIA's fused CUDA activation at generation, where their code is installed.
    inference_options = ("activation_kernel",)
    presets = {
        "S": dict(  # bigvgan_base_*: 512 channels, rates 8, 8, 2, 2 (v2 end)
            upsample_initial_channel=512, upsample_rates=[8, 8, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4]
        ),
        "M": dict(upsample_initial_channel=768, **FULL_TOPOLOGY),  # the full topology at half width
        "L": dict(upsample_initial_channel=1536, **FULL_TOPOLOGY),  # bigvgan_v2_*_256x
    }

    def __init__(
        self,
        upsample_initial_channel: int,
        upsample_rates: list[int],
        upsample_kernel_sizes: list[int],
        resblock: str = "1",
        resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11),
        resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
        activation: str = "snakebeta",
        snake_logscale: bool = True,
        use_tanh_at_final: bool = False,
        use_bias_at_final: bool = False,
        n_mels: int = 80,
        hop_length: int = 256,
        sample_rate: int = 16000,
        discriminator: str = "cqtd",
        mpd_periods: tuple[int, ...] = (2, 3, 5, 7, 11),
        cqtd_filters: int = 128,
        cqtd_max_filters: int = 1024,
        cqtd_filters_scale: int = 1,
        cqtd_dilations: tuple[int, ...] = (1, 2, 4),
        cqtd_hop_lengths: tuple[int, ...] = (512, 256, 256),
        cqtd_n_octaves: tuple[int, ...] | None = None,
        cqtd_bins_per_octaves: tuple[int, ...] = (24, 36, 48),
        cqtd_normalize_volume: bool = False,
        mrd_resolutions: tuple[tuple[int, int, int], ...] = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240)),
        learning_rate: float = 1e-4,
        adam_betas: tuple[float, float] = (0.8, 0.99),
        lr_decay: float = 0.9999996,
        clip_grad_norm: float = 500.0,
        mel_loss_weight: float = 15.0,
        mel_loss_n_mels: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320),
        mel_loss_window_lengths: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048),
        activation_kernel: str = "torch",
    ):
        """``cqtd_n_octaves`` None: the recipe's 9 octaves per scale, or as many as fit below the Nyquist
        (``cqt_octaves``: 8 at 16 kHz, where 9 octaves from C1 would reach 16.3 kHz).

        ``activation_kernel``: ``torch`` (ours, everywhere) or ``nvidia``: at generation on a GPU every
        ``Activation1d`` runs NVIDIA's fused kernel (log-scale Snake parameters, 12-tap filters, as ours),
        loaded from the user's checkout of their repository; on other devices, and in FLOP counts, the
        PyTorch path, which computes the same. Never needed: an option to measure it."""
        super().__init__(n_mels=n_mels, hop_length=hop_length, sample_rate=sample_rate)
        check_upsampling(self.family, "upsample_rates", upsample_rates, hop_length)
        if str(resblock) not in ("1", "2"):
            raise ValueError(f"bigvgan: resblock must be '1' (AMPBlock1) or '2' (AMPBlock2), got {resblock!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"bigvgan: activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if discriminator not in ("cqtd", "mrd"):
            raise ValueError(f"bigvgan: discriminator must be 'cqtd' (v2) or 'mrd' (v1), got {discriminator!r}")
        if len(resblock_kernel_sizes) != len(resblock_dilation_sizes):
            raise ValueError("bigvgan: resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        if activation_kernel not in ("torch", "nvidia"):
            raise ValueError(f"bigvgan: activation_kernel must be 'torch' or 'nvidia', got {activation_kernel!r}")
        self.activation_kernel = activation_kernel
        self.generator = Generator(
            n_mels,
            upsample_initial_channel,
            list(upsample_rates),
            list(upsample_kernel_sizes),
            str(resblock),
            list(resblock_kernel_sizes),
            [list(d) for d in resblock_dilation_sizes],
            activation,
            snake_logscale,
            use_tanh_at_final,
            use_bias_at_final,
        )
        if cqtd_n_octaves is None:
            cqtd_n_octaves = tuple(cqt_octaves(sample_rate, bins) for bins in cqtd_bins_per_octaves)
        if not len(cqtd_hop_lengths) == len(cqtd_n_octaves) == len(cqtd_bins_per_octaves):
            raise ValueError("bigvgan: cqtd_hop_lengths, cqtd_n_octaves and cqtd_bins_per_octaves differ in length")
        for octaves, bins in zip(cqtd_n_octaves, cqtd_bins_per_octaves):
            if cqt_octaves(sample_rate, bins, octaves) < octaves:
                raise ValueError(
                    f"bigvgan: {octaves} CQT octaves from 32.70 Hz exceed the Nyquist frequency at {sample_rate} Hz "
                    f"(x2 resampled); at most {cqt_octaves(sample_rate, bins, octaves)}"
                )
        self.discriminator = discriminator
        self.mpd_periods = tuple(mpd_periods)
        self.cqtd = dict(
            filters=cqtd_filters,
            max_filters=cqtd_max_filters,
            filters_scale=cqtd_filters_scale,
            dilations=tuple(cqtd_dilations),
            hop_lengths=tuple(cqtd_hop_lengths),
            n_octaves=tuple(cqtd_n_octaves),
            bins_per_octaves=tuple(cqtd_bins_per_octaves),
            normalize_volume=cqtd_normalize_volume,
        )
        self.mrd_resolutions = tuple(tuple(r) for r in mrd_resolutions)
        self.learning_rate = learning_rate
        self.adam_betas = tuple(adam_betas)
        self.lr_decay = lr_decay
        self.clip_grad_norm = clip_grad_norm
        self.mel_loss_weight = mel_loss_weight
        self.mel_loss_n_mels = tuple(mel_loss_n_mels)
        self.mel_loss_window_lengths = tuple(mel_loss_window_lengths)

    @staticmethod
    def min_training_samples(mel_loss_window_lengths=(2048,), **hyperparameters) -> int:
        """More samples than the reflect padding of the multi-scale mel loss's longest STFT."""
        return max(mel_loss_window_lengths) // 2 + 1

    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        if self.activation_kernel == "nvidia" and mel.device.type == "cuda":
            self.use_fused_activation(nvidia_fused_activation)
        return self.generator(mel).squeeze(1)

    def use_fused_activation(self, load) -> None:
        """Every ``Activation1d`` of the generator runs ``load()``'s function on CUDA tensors without
        autograd (once), after checking on one activation that it computes what the PyTorch path does (a
        kernel built for another GPU may load and then fail or compute garbage)."""
        activations = [m for m in self.generator.modules() if isinstance(m, Activation1d)]
        if not activations or activations[0].fused is not None:
            return
        fused, first = load(), activations[0]
        parameter = next(first.act.parameters())
        probe = torch.randn(1, parameter.shape[0], 64, device=parameter.device, dtype=parameter.dtype)
        with torch.no_grad():
            expected = first(probe)
            try:
                got = fused(probe.contiguous(), *first.fused_arguments(probe.dtype))
            except Exception as err:  # a launch failure on this GPU
                raise ValueError(f"inference.bigvgan.activation_kernel: nvidia failed on this GPU: {err}") from None
        if got.shape != expected.shape or not torch.allclose(got, expected, rtol=1e-3, atol=1e-4):
            raise ValueError(
                "inference.bigvgan.activation_kernel: nvidia computes other values than the PyTorch path on this "
                "GPU (was it built for another architecture?); use activation_kernel: torch"
            )
        for module in activations:
            module.fused = fused

    def setup_training(self) -> None:
        self.discriminators = Discriminators(
            self.sample_rate, self.discriminator, self.mpd_periods, self.cqtd, self.mrd_resolutions
        )
        self.discriminators.to(next(self.generator.parameters()).device)
        kwargs = dict(lr=self.learning_rate, betas=self.adam_betas)
        spectral, mpd = self.discriminators.groups[1], self.discriminators.groups[0]
        self.optimizers = [
            torch.optim.AdamW(self.generator.parameters(), **kwargs),
            # one optimizer for both, the second discriminator's parameters first (as the authors')
            torch.optim.AdamW(itertools.chain(spectral.parameters(), mpd.parameters()), **kwargs),
        ]

    def mel_loss(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The multi-scale mel loss (unweighted) of (B, samples) audio."""
        return multiscale_mel_loss(
            estimate, target, self.sample_rate, self.mel_loss_n_mels, self.mel_loss_window_lengths
        )

    def _step_discriminators(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """``optimise`` with each discriminator's gradients clipped on their own (the authors clip MPD's
        and the CQT/MRD's separately, then take one optimizer step)."""
        optimizer.zero_grad(set_to_none=True)
        self.grad_scaler.scale(loss).backward()
        self.grad_scaler.unscale_(optimizer)
        for group in self.discriminators.groups:
            nn.utils.clip_grad_norm_(list(group.parameters()), self.clip_grad_norm)
        self.grad_scaler.step(optimizer)

    def training_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, float]:
        check_mel_loss_length(audio.shape[-1], self.mel_loss_window_lengths)  # before any step
        opt_g, opt_d = self.optimizers
        fake = self.generator(mel)

        real_scores, _ = self.discriminators(audio.unsqueeze(1))
        fake_scores, _ = self.discriminators(fake.detach())
        loss_d = discriminator_loss(real_scores, fake_scores)
        step_lr.advance(opt_d, step_lr.exponential(self.lr_decay))
        self._step_discriminators(loss_d, opt_d)

        losses = self._generator_losses(audio, fake)
        step_lr.advance(opt_g, step_lr.exponential(self.lr_decay))
        self.optimise(losses["loss_g"], opt_g, clip_norm=self.clip_grad_norm)
        return {"loss_d": loss_d.item(), **{name: value.item() for name, value in losses.items()}}

    def generator_losses(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._generator_losses(audio, self.generator(mel))

    def _generator_losses(self, audio: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Least-squares adversarial + 2 x feature matching + ``mel_loss_weight`` x multi-scale mel."""
        with torch.no_grad():  # the real maps are targets only
            _, real_features = self.discriminators(audio.unsqueeze(1))
        fake_scores, fake_features = self.discriminators(fake)
        loss_adv = generator_adversarial_loss(fake_scores)
        loss_fm = feature_loss(real_features, fake_features)
        loss_mel = self.mel_loss(fake.squeeze(1), audio)
        loss_g = loss_adv + loss_fm + self.mel_loss_weight * loss_mel
        return {"loss_g": loss_g, "loss_mel": loss_mel, "loss_fm": loss_fm, "loss_adv": loss_adv}
