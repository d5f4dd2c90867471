"""Checkpoint files in each original's exact container with the fact sheet's keys and shapes, filled with
seeded random values: stand-ins for downloads, for tests and for the released-checkpoints demo (nothing in
them is trained).

The key tables ("rows": ``(key, shape)`` in state-dict order) are those of the shared reference
``released-checkpoints.md`` (sections 1.3-8.3), built at any width by the ``*_rows`` functions (the tests use
small ones). ``tensors`` fills rows with seeded values (``SCALE`` x a standard normal; weight-norm ``g``
positive), and buffers with what the original holds there: BigVGAN's 12-tap filter, periodic Hann windows,
Vocos' mel filterbank, WaveGrad's 50-step schedule. ``write_synthetic(key, path)`` writes the catalogue entry
``key`` ("hifigan/LJ_V1") at its published configuration in its original's container: WaveGlow as the
pickled ``glow.WaveGlow`` module (``glow_module`` provides stand-in classes of that name while it writes,
and leaves ``sys.modules`` as it found it), DiffWave with its ``params``. Values stay small enough that
every family generates finite audio from them.

Command: write a stand-in for every ``models:`` entry of the given configs whose (family, label) is in the
catalogue and whose ``checkpoint:`` file does not exist yet (paths relative to the current directory)::

    python -m vocoder_energy.models.importers.synthetic config/released.yaml [--seed N] [--force]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.weight_norm import WeightNorm  # the module's class (the package's name is the function)

from vocoder_energy.core.files import open_durably
from vocoder_energy.models.importers.catalogue import RELEASED_CHECKPOINTS, ReleasedCheckpoint

Rows = list[tuple[str, tuple[int, ...]]]
SCALE = 0.05  # weights ~ N(0, SCALE^2); weight-norm g = |N(0, SCALE^2)| + SCALE
# BigVGAN's anti-aliasing filter: Kaiser-windowed sinc, cutoff 0.25, half-width 0.3, 12 taps (fact sheet 8.3).
FILTER = [0.00202896469, 0.00938946567, -0.0255434588, -0.0576573834, 0.128572583, 0.443209797, 0.443209797,
          0.128572583, -0.0576573834, -0.0255434588, 0.00938946567, 0.00202896469]  # fmt: skip
WAVEGRAD_BUFFERS = (
    "betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_recip_alphas_cumprod",
    "sqrt_alphas_cumprod_m1", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
)  # fmt: skip


# --------------------------------------------------------------------------- key tables (fact sheet)
def wn_rows(prefix: str, v_shape: tuple[int, ...], transposed: bool = False, bias: bool = True) -> Rows:
    """A legacy weight-normed layer: bias (output channels), weight_g [d0, 1, ...], weight_v."""
    out = v_shape[1] if transposed else v_shape[0]
    g = (v_shape[0],) + (1,) * (len(v_shape) - 1)
    return ([(f"{prefix}.bias", (out,))] if bias else []) + [(f"{prefix}.weight_g", g), (f"{prefix}.weight_v", v_shape)]


def hifigan_rows(channels, kernels, resblock, resblock_kernels, n_convs, n_mels=80) -> Rows:
    """jik876/hifi-gan's generator (1.3): ResBlock1 ("1": convs1 + convs2) or ResBlock2 ("2": convs)."""
    c = [channels // 2**i for i in range(len(kernels) + 1)]
    rows = wn_rows("conv_pre", (c[0], n_mels, 7))
    for i, k in enumerate(kernels):
        rows += wn_rows(f"ups.{i}", (c[i], c[i + 1], k), transposed=True)
    for j in range(3 * len(kernels)):
        w, kr = c[j // 3 + 1], resblock_kernels[j % 3]
        for group in ("convs1", "convs2") if resblock == "1" else ("convs",):
            for n in range(n_convs):
                rows += wn_rows(f"resblocks.{j}.{group}.{n}", (w, w, kr))
    return rows + wn_rows("conv_post", (1, c[-1], 7))


def melgan_rows(ngf, n_mels=80) -> Rows:
    """descriptinc/melgan-neurips' ``model`` Sequential with 3 ResnetBlocks per stage, ratios [8, 8, 2, 2] (2.3)."""
    ci, co, r = [16 * ngf, 8 * ngf, 4 * ngf, 2 * ngf], [8 * ngf, 4 * ngf, 2 * ngf, ngf], [8, 8, 2, 2]
    rows = wn_rows("model.1", (ci[0], n_mels, 7))
    for s in range(4):
        rows += wn_rows(f"model.{3 + 5 * s}", (ci[s], co[s], 2 * r[s]), transposed=True)
        for b in range(3):
            rows += wn_rows(f"model.{4 + 5 * s + b}.block.2", (co[s], co[s], 3))
            rows += wn_rows(f"model.{4 + 5 * s + b}.block.4", (co[s], co[s], 1))
            rows += wn_rows(f"model.{4 + 5 * s + b}.shortcut", (co[s], co[s], 1))
    return rows + wn_rows("model.24", (1, ngf, 7))


def waveglow_sizes(n_flows=12, n_group=8, n_early_every=4, n_early_size=2) -> list[int]:
    """Channels of each flow's invertible 1x1 conv (2 are split off before flows 4 and 8 when published)."""
    sizes, remaining = [], n_group
    for k in range(n_flows):
        if k % n_early_every == 0 and k > 0:
            remaining -= n_early_size
        sizes.append(remaining)
    return sizes


def waveglow_rows(n_channels=256, n_layers=8, n_flows=12, n_group=8, n_early_every=4, n_early_size=2, n_mels=80,
                  kernel_size=3) -> Rows:  # fmt: skip
    """The state dict of NVIDIA/waveglow's ``glow.WaveGlow`` (3.3); the defaults are the published config.json."""
    sizes = waveglow_sizes(n_flows, n_group, n_early_every, n_early_size)
    n = n_channels
    rows: Rows = [("upsample.weight", (n_mels, n_mels, 1024)), ("upsample.bias", (n_mels,))]
    for k, size in enumerate(sizes):
        for i in range(n_layers):
            rows += wn_rows(f"WN.{k}.in_layers.{i}", (2 * n, n, kernel_size))
        for i in range(n_layers):
            rows += wn_rows(f"WN.{k}.res_skip_layers.{i}", (2 * n if i < n_layers - 1 else n, n, 1))
        rows += wn_rows(f"WN.{k}.start", (n, size // 2, 1))
        rows += [(f"WN.{k}.end.weight", (size, n, 1)), (f"WN.{k}.end.bias", (size,))]
        rows += wn_rows(f"WN.{k}.cond_layer", (2 * n * n_layers, n_mels * n_group, 1))
    return rows + [(f"convinv.{k}.conv.weight", (size, size, 1)) for k, size in enumerate(sizes)]


def diffwave_rows(ch, layers, n_mels=80) -> Rows:
    """lmnt-com/diffwave's conditional model (4.3)."""
    rows = [("input_projection.weight", (ch, 1, 1)), ("input_projection.bias", (ch,))]
    rows += [("diffusion_embedding.projection1.weight", (512, 128)), ("diffusion_embedding.projection1.bias", (512,))]
    rows += [("diffusion_embedding.projection2.weight", (512, 512)), ("diffusion_embedding.projection2.bias", (512,))]
    for i in (1, 2):
        rows += [
            (f"spectrogram_upsampler.conv{i}.weight", (1, 1, 3, 32)),
            (f"spectrogram_upsampler.conv{i}.bias", (1,)),
        ]
    for i in range(layers):
        p = f"residual_layers.{i}"
        rows += [(f"{p}.dilated_conv.weight", (2 * ch, ch, 3)), (f"{p}.dilated_conv.bias", (2 * ch,))]
        rows += [(f"{p}.diffusion_projection.weight", (ch, 512)), (f"{p}.diffusion_projection.bias", (ch,))]
        rows += [
            (f"{p}.conditioner_projection.weight", (2 * ch, n_mels, 1)),
            (f"{p}.conditioner_projection.bias", (2 * ch,)),
        ]
        rows += [(f"{p}.output_projection.weight", (2 * ch, ch, 1)), (f"{p}.output_projection.bias", (2 * ch,))]
    rows += [("skip_projection.weight", (ch, ch, 1)), ("skip_projection.bias", (ch,))]
    return rows + [("output_projection.weight", (1, ch, 1)), ("output_projection.bias", (1,))]


def diffwave_params(ch, layers) -> dict[str, Any]:
    """``ckpt['params']`` as lmnt-com/diffwave@3d82a82 writes it (4.2), at these widths."""
    return dict(batch_size=16, learning_rate=2e-4, max_grad_norm=None, sample_rate=22050, n_mels=80, n_fft=1024,
                hop_samples=256, crop_mel_frames=62, residual_layers=layers, residual_channels=ch,
                dilation_cycle_length=10, noise_schedule=torch.linspace(1e-4, 0.05, 50).tolist())  # fmt: skip


def wavegrad_rows(schedule_steps=50, ublocks=5) -> Rows:
    """ivanvovk/WaveGrad's model at configs/default.json (5.3); with the schedule buffers that train.py saves
    first (``schedule_steps`` long; 0: without them). ``ublocks`` other than 5: a damaged file for tests."""
    rows: Rows = [(n, (schedule_steps,)) for n in WAVEGRAD_BUFFERS] if schedule_steps else []

    def conv(p, o, i, k):
        return [(f"{p}.conv1d.weight", (o, i, k)), (f"{p}.conv1d.bias", (o,))]

    ui, uo = [768, 512, 512, 256, 128], [512, 512, 256, 128, 128]
    di, do = [32, 128, 128, 256], [128, 128, 256, 512]
    fi, fo = [32, 128, 128, 256, 512], [128, 128, 256, 512, 512]
    rows += conv("nn.ublock_preconv", 768, 80, 3)
    for u in range(ublocks):
        p = f"nn.ublocks.{u}"
        rows += conv(f"{p}.first_block_main_branch.upsampling.2", uo[u], ui[u], 3)
        rows += conv(f"{p}.first_block_main_branch.modulation.convolution", uo[u], uo[u], 3)
        rows += conv(f"{p}.first_block_residual_branch.0", uo[u], ui[u], 1)
        rows += conv(f"{p}.second_block_main_branch.modulation_0.convolution", uo[u], uo[u], 3)
        rows += conv(f"{p}.second_block_main_branch.modulation_1.convolution", uo[u], uo[u], 3)
    rows += conv("nn.ublock_postconv", 1, uo[ublocks - 1], 3) + conv("nn.dblock_preconv", 32, 1, 5)
    for d in range(ublocks - 1):
        for n in (1, 2, 3):
            rows += conv(f"nn.dblocks.{d}.main_branch.{n}.convolution", do[d], di[d] if n == 1 else do[d], 3)
        rows += conv(f"nn.dblocks.{d}.residual_branch.0", do[d], di[d], 1)
    for f in range(ublocks):
        rows += conv(f"nn.films.{f}.signal_conv.0", fi[f], fi[f], 3)
        rows += conv(f"nn.films.{f}.scale_conv", fo[f], fi[f], 3) + conv(f"nn.films.{f}.shift_conv", fo[f], fi[f], 3)
    return rows


def waveflow_rows(r, flows=8, layers=8) -> Rows:
    """L0SG/WaveFlow's model (6.3; no checkpoint was published)."""
    rows: Rows = []
    for f in range(flows):
        p = f"flows.{f}.coupling"
        rows += wn_rows(f"{p}.net.front_conv.0.conv", (r, 1, 1, 1))
        for n in range(layers):
            rows += wn_rows(f"{p}.net.res_blocks.{n}.filter_gate_conv.conv", (2 * r, r, 3, 3))
            rows += wn_rows(f"{p}.net.res_blocks.{n}.filter_gate_conv_c", (2 * r, 80, 1, 1))
            rows += wn_rows(f"{p}.net.res_blocks.{n}.res_skip_conv", (2 * r, r, 1, 1))
        rows += [(f"{p}.proj_log_s_t.conv.weight", (2, r, 1, 1)), (f"{p}.proj_log_s_t.conv.bias", (2,))]
    for u in (0, 2):
        rows += wn_rows(f"upsample_conv.{u}", (1, 1, 3, 32), transposed=True)
    return rows


def vocos_rows(dim, inter, layers, n_mels=100, n_fft=1024) -> Rows:
    """gemelo-ai/vocos' mel model, buffers included (7.3)."""
    rows: Rows = [
        ("feature_extractor.mel_spec.spectrogram.window", (n_fft,)),
        ("feature_extractor.mel_spec.mel_scale.fb", (n_fft // 2 + 1, n_mels)),
    ]
    rows += [("backbone.embed.weight", (dim, n_mels, 7)), ("backbone.embed.bias", (dim,))]
    rows += [("backbone.norm.weight", (dim,)), ("backbone.norm.bias", (dim,))]
    for b in range(layers):
        p = f"backbone.convnext.{b}"
        rows += [(f"{p}.gamma", (dim,)), (f"{p}.dwconv.weight", (dim, 1, 7)), (f"{p}.dwconv.bias", (dim,))]
        rows += [(f"{p}.norm.weight", (dim,)), (f"{p}.norm.bias", (dim,))]
        rows += [(f"{p}.pwconv1.weight", (inter, dim)), (f"{p}.pwconv1.bias", (inter,))]
        rows += [(f"{p}.pwconv2.weight", (dim, inter)), (f"{p}.pwconv2.bias", (dim,))]
    rows += [("backbone.final_layer_norm.weight", (dim,)), ("backbone.final_layer_norm.bias", (dim,))]
    return rows + [
        ("head.out.weight", (n_fft + 2, dim)),
        ("head.out.bias", (n_fft + 2,)),
        ("head.istft.window", (n_fft,)),
    ]


def bigvgan_rows(channels, kernels, n_mels, bias_at_final) -> Rows:
    """NVIDIA/BigVGAN's generator with AMPBlock1 and SnakeBeta (8.3); v2 has no ``conv_post.bias``."""
    c = [channels // 2**i for i in range(len(kernels) + 1)]
    rows = wn_rows("conv_pre", (c[0], n_mels, 7))
    for i, k in enumerate(kernels):
        rows += wn_rows(f"ups.{i}.0", (c[i], c[i + 1], k), transposed=True)

    def act(p, w):
        return [(f"{p}.act.alpha", (w,)), (f"{p}.act.beta", (w,)), (f"{p}.upsample.filter", (1, 1, 12)),
                (f"{p}.downsample.lowpass.filter", (1, 1, 12))]  # fmt: skip

    for j in range(3 * len(kernels)):
        w, kr = c[j // 3 + 1], [3, 7, 11][j % 3]
        for group in ("convs1", "convs2"):
            for n in range(3):
                rows += wn_rows(f"resblocks.{j}.{group}.{n}", (w, w, kr))
        for a in range(6):
            rows += act(f"resblocks.{j}.activations.{a}", w)
    rows += act("activation_post", c[-1])
    return rows + wn_rows("conv_post", (1, c[-1], 7), bias=bias_at_final)


def is_buffer(key: str) -> bool:
    """Whether a row is a buffer of the original module (not counted as a parameter)."""
    return key.endswith((".filter", ".window", ".fb")) or key in WAVEGRAD_BUFFERS


def parameter_count(rows: Rows) -> int:
    return sum(math.prod(shape) for key, shape in rows if not is_buffer(key))


# --------------------------------------------------------------------------- values
def tensors(rows: Rows, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded values for ``rows`` (float32): SCALE x N(0, 1), weight_g positive; buffers as the original has them."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in rows:
        t = torch.randn(shape, generator=gen).mul_(SCALE)
        if key.endswith("weight_g"):
            t.abs_().add_(SCALE)
        sd[key] = t
    return _buffers(sd)


def _buffers(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for key, t in sd.items():
        if key.endswith(".filter") and t.shape == (1, 1, 12):
            sd[key] = torch.tensor(FILTER).view(1, 1, 12)
        elif key.endswith(".window") and t.dim() == 1:
            sd[key] = torch.hann_window(t.shape[0])  # periodic, as torch and torchaudio make it
        elif key.endswith("mel_scale.fb"):
            sd[key] = _vocos_filterbank(tuple(t.shape), t)
    if "betas" in sd:
        sd.update(_wavegrad_schedule(sd["betas"].shape[0]))
    return sd


def _vocos_filterbank(shape: tuple[int, ...], fallback: torch.Tensor) -> torch.Tensor:
    """torchaudio's HTK filterbank of the published Vocos, 0-12000 Hz, no norm ([n_freqs, n_mels])."""
    from vocoder_energy.data.recipes import recipe_for

    recipe = recipe_for("vocos_24k")
    if shape != (recipe.n_fft // 2 + 1, recipe.n_mels):
        return fallback
    return torch.from_numpy(recipe.filterbank().T.copy()).float()


def _wavegrad_schedule(steps: int) -> dict[str, torch.Tensor]:
    """The buffers ivanvovk's ``set_new_noise_schedule`` derives from the 50-step test schedule (5.2, 5.5)."""
    betas = torch.linspace(1e-6, 0.01, steps, dtype=torch.float64)
    alphas = 1 - betas
    cumprod = torch.cumprod(alphas, 0)
    previous = torch.cat([torch.ones(1, dtype=torch.float64), cumprod[:-1]])
    variance = betas * (1 - previous) / (1 - cumprod)
    values = dict(
        betas=betas,
        alphas=alphas,
        alphas_cumprod=cumprod,
        alphas_cumprod_prev=previous,
        sqrt_alphas_cumprod=cumprod.sqrt(),
        sqrt_recip_alphas_cumprod=(1 / cumprod).sqrt(),
        sqrt_alphas_cumprod_m1=(1 / cumprod - 1).sqrt(),
        posterior_log_variance_clipped=variance.clamp(min=1e-20).log(),
        posterior_mean_coef1=betas * previous.sqrt() / (1 - cumprod),
        posterior_mean_coef2=(1 - previous) * alphas.sqrt() / (1 - cumprod),
    )
    return {k: v.float() for k, v in values.items()}


def orthogonal(size: int, generator: torch.Generator) -> torch.Tensor:
    """A random rotation (det +1), as WaveGlow initialises its invertible 1x1 convolutions."""
    q, _ = torch.linalg.qr(torch.randn(size, size, generator=generator))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def adam_state(count: int, lr: float) -> dict:
    """A fresh Adam ``state_dict()`` over ``count`` parameters (the originals save theirs; ours holds no moments)."""
    return torch.optim.Adam([nn.Parameter(torch.empty(0)) for _ in range(count)], lr=lr).state_dict()


# --------------------------------------------------------------------------- WaveGlow's pickled module
# Stand-ins with the names and module layout of NVIDIA/waveglow's glow.py classes (fact sheet 3.2-3.3), so that
# torch.save pickles them as glow.WaveGlow etc.; nothing here is NVIDIA's code (no forward pass).
class WN(nn.Module):
    def __init__(self, n_in_channels, n_mel_channels, n_layers, n_channels, kernel_size=3):
        super().__init__()
        weight_norm = torch.nn.utils.weight_norm
        self.n_layers, self.n_channels = n_layers, n_channels
        self.in_layers, self.res_skip_layers = nn.ModuleList(), nn.ModuleList()
        self.start = weight_norm(nn.Conv1d(n_in_channels, n_channels, 1))
        self.end = nn.Conv1d(n_channels, 2 * n_in_channels, 1)
        self.cond_layer = weight_norm(nn.Conv1d(n_mel_channels, 2 * n_channels * n_layers, 1))
        for i in range(n_layers):
            dilation = 2**i
            padding = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(
                weight_norm(nn.Conv1d(n_channels, 2 * n_channels, kernel_size, dilation=dilation, padding=padding))
            )
            out = 2 * n_channels if i < n_layers - 1 else n_channels
            self.res_skip_layers.append(weight_norm(nn.Conv1d(n_channels, out, 1)))


class Invertible1x1Conv(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv1d(c, c, 1, bias=False)
        self.conv.weight.data = torch.linalg.qr(torch.randn(c, c))[0].unsqueeze(-1)


class WaveGlow(nn.Module):
    def __init__(self, n_channels=256, n_layers=8, n_flows=12, n_group=8, n_early_every=4, n_early_size=2,
                 n_mel_channels=80, kernel_size=3):  # fmt: skip
        super().__init__()
        self.upsample = nn.ConvTranspose1d(n_mel_channels, n_mel_channels, 1024, stride=256)
        self.n_flows, self.n_group = n_flows, n_group
        self.n_early_every, self.n_early_size = n_early_every, n_early_size
        self.WN, self.convinv = nn.ModuleList(), nn.ModuleList()
        sizes = waveglow_sizes(n_flows, n_group, n_early_every, n_early_size)
        for size in sizes:
            self.convinv.append(Invertible1x1Conv(size))
            self.WN.append(WN(size // 2, n_mel_channels * n_group, n_layers, n_channels, kernel_size))
        self.n_remaining_channels = sizes[-1]


GLOW_CLASSES = (WN, Invertible1x1Conv, WaveGlow)
for _cls in GLOW_CLASSES:
    _cls.__module__ = "glow"


@contextlib.contextmanager
def glow_module() -> Iterator[types.ModuleType]:
    """``sys.modules['glow']`` holds the stand-in classes while the block runs (so that torch.save pickles them
    as ``glow.WaveGlow`` ...); afterwards ``sys.modules`` is as it was (a previous ``glow`` is put back)."""
    module = types.ModuleType("glow", "stand-ins named as NVIDIA/waveglow's glow.py classes (models.importers)")
    for cls in GLOW_CLASSES:
        setattr(module, cls.__name__, cls)
    absent = object()
    before = sys.modules.get("glow", absent)
    sys.modules["glow"] = module
    try:
        yield module
    finally:
        if before is absent:
            sys.modules.pop("glow", None)
        else:
            sys.modules["glow"] = before


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch's warnings about the legacy weight norm and about pickled modules without source: expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch.nn.utils.weight_norm` is deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", message="Couldn't retrieve source code", category=UserWarning)
        yield


def waveglow_model(sd: dict[str, torch.Tensor], seed: int, **config) -> WaveGlow:
    """A ``glow.WaveGlow`` holding ``sd`` (rows of ``waveglow_rows(**config)``), its 1x1 convs made rotations."""
    with torch.device("meta"), _quiet():  # no values drawn: they all come from sd
        model = WaveGlow(**config)
    generator = torch.Generator().manual_seed(seed)
    for key in [k for k in sd if k.startswith("convinv.")]:
        sd[key] = orthogonal(sd[key].shape[0], generator).unsqueeze(-1)
    model.load_state_dict(sd, strict=True, assign=True)
    for module in model.modules():  # the derived plain ``weight`` a weight-normed layer carries, from the new g, v
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm):
                hook(module, None)
    return model


# --------------------------------------------------------------------------- published configurations
HIFIGAN = {  # config: (channels, kernels, resblock, resblock kernels, convs per group), fact sheet 1.3
    "V1": (512, [16, 16, 4, 4], "1", [3, 7, 11], 3),
    "V2": (128, [16, 16, 4, 4], "1", [3, 7, 11], 3),
    "V3": (256, [16, 16, 8], "2", [3, 5, 7], 2),
}
BIGVGAN = {  # config: (channels, kernels, n_mels, conv_post bias), fact sheet 8.1
    "bigvgan_v2_44khz_128band_512x": (1536, [16, 8, 4, 4, 4, 4], 128, False),
    "bigvgan_v2_44khz_128band_256x": (1536, [8, 8, 4, 4, 4, 4], 128, False),
    "bigvgan_v2_24khz_100band_256x": (1536, [8, 8, 4, 4, 4, 4], 100, False),
    "bigvgan_v2_22khz_80band_256x": (1536, [8, 8, 4, 4, 4, 4], 80, False),
    "bigvgan_v2_22khz_80band_fmax8k_256x": (1536, [8, 8, 4, 4, 4, 4], 80, False),
    "bigvgan_24khz_100band": (1536, [8, 8, 4, 4, 4, 4], 100, True),
    "bigvgan_base_24khz_100band": (512, [16, 16, 4, 4], 100, True),
    "bigvgan_22khz_80band": (1536, [8, 8, 4, 4, 4, 4], 80, True),
    "bigvgan_base_22khz_80band": (512, [16, 16, 4, 4], 80, True),
}


def published_rows(entry: ReleasedCheckpoint) -> Rows:
    """The key table of a catalogue entry at its published configuration."""
    rows = {
        "jik876": lambda: hifigan_rows(*HIFIGAN[entry.config]),
        "descript": lambda: melgan_rows(32),
        "nvidia_waveglow": lambda: waveglow_rows(),
        "lmnt": lambda: diffwave_rows(64, 30),
        "ivanvovk": lambda: wavegrad_rows(50),
        "vocos": lambda: vocos_rows(512, 1536, 8),
        "bigvgan": lambda: bigvgan_rows(*BIGVGAN[entry.config]),
    }
    return rows[entry.format]()


def published_container(entry: ReleasedCheckpoint, seed: int = 0) -> Any:
    """The object the original's file holds for ``entry``: its container around the seeded state dict."""
    sd = tensors(published_rows(entry), seed)
    if entry.format in ("jik876", "bigvgan"):
        return {"generator": sd}
    if entry.format in ("descript", "vocos"):
        return sd
    if entry.format == "ivanvovk":
        return {"model": sd}
    if entry.format == "lmnt":
        return {"step": 1000578, "model": sd, "optimizer": adam_state(len(sd), 2e-4),
                "params": diffwave_params(64, 30), "scaler": {}}  # fmt: skip
    if entry.format == "nvidia_waveglow":
        model = waveglow_model(sd, seed)
        return {"model": model, "iteration": 0, "optimizer": adam_state(len(list(model.parameters())), 1e-4),
                "learning_rate": 1e-4}  # fmt: skip
    raise KeyError(entry.format)


@dataclass(frozen=True)
class SyntheticFile:
    path: Path
    key: str
    parameters: int
    bytes: int


def write_synthetic(key: str, path: str | Path, seed: int = 0) -> SyntheticFile:
    """Write the catalogue entry ``key`` ("hifigan/LJ_V1") at its published size to ``path`` (folders created;
    written to a tmp name beside it, then renamed: an interrupted write leaves no partial file)."""
    if key not in RELEASED_CHECKPOINTS:
        raise KeyError(
            f"{key!r} is not a released checkpoint of the catalogue; known: {', '.join(RELEASED_CHECKPOINTS)}"
        )
    entry = RELEASED_CHECKPOINTS[key]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = published_container(entry, seed)
    with glow_module(), _quiet(), open_durably(path) as handle:
        torch.save(obj, handle)
    return SyntheticFile(path, key, parameter_count(published_rows(entry)), path.stat().st_size)


# --------------------------------------------------------------------------- the command
def merged_models(paths: list[str | Path]) -> dict:
    """The ``models:`` section of the configs, merged in order as Snakemake merges several --configfile."""
    import yaml

    merged: dict = {}
    for path in paths:
        config = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(config, dict):
            raise ValueError(f"{path}: not a mapping")
        _merge(merged, config)
    models = merged.get("models") or {}
    if not isinstance(models, dict):
        raise ValueError("models: not a mapping")
    return models


def _merge(into: dict, other: dict) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vocoder_energy.models.importers.synthetic",
        description="Write untrained stand-ins (seeded random weights in each original's exact file format) for the "
        "released checkpoints that the configs' models: entries name, where the checkpoint file does not exist.",
    )
    parser.add_argument("configs", nargs="+", metavar="CONFIG", help="YAML config files, merged in order")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    parser.add_argument("--force", action="store_true", help="overwrite files that exist")
    args = parser.parse_args(argv)
    try:
        models = merged_models(args.configs)
    except (OSError, ValueError) as error:  # yaml's errors are ValueErrors too
        print(f"error: {error}", file=sys.stderr)
        return 2
    entries = [(family, label, entry) for family, sizes in models.items() if isinstance(sizes, dict)
               for label, entry in sizes.items() if isinstance(entry, dict) and "checkpoint" in entry]  # fmt: skip
    if not entries:
        print("no models: entry with a checkpoint: in " + ", ".join(map(str, args.configs)))
        return 0
    start, written, total = time.monotonic(), 0, 0
    for i, (family, label, entry) in enumerate(entries, 1):
        key, path = f"{family}/{label}", Path(str(entry["checkpoint"]))
        head = f"[{i}/{len(entries)}]"
        released = RELEASED_CHECKPOINTS.get(key)
        if released is None:
            known = [e.label for e in RELEASED_CHECKPOINTS.values() if e.family == family]
            print(f"{head} skip {path}: models.{family}.{label} is not in the catalogue of released checkpoints "
                  f"(known {family} labels: {', '.join(known) or 'none'})")  # fmt: skip
            continue
        if entry.get("format", released.format) != released.format:
            print(f"{head} skip {path}: models.{family}.{label} has format {entry['format']!r}; {key} is "
                  f"{released.format!r}")  # fmt: skip
            continue
        if path.exists() and not args.force:
            print(f"{head} skip {path}: exists ({key}; --force overwrites it)")
            continue
        began = time.monotonic()
        result = write_synthetic(key, path, seed=args.seed)
        written, total = written + 1, total + result.bytes
        print(f"{head} wrote {path}  {key}  {result.parameters:,} parameters  {result.bytes / 1e6:.1f} MB  "
              f"({time.monotonic() - began:.1f} s)", flush=True)  # fmt: skip
    print(f"{written} stand-in(s) written, {total / 1e6:.1f} MB in {time.monotonic() - start:.1f} s; "
          f"{len(entries) - written} skipped (untrained: for dry runs, not for results)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
