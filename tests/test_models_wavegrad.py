"""WaveGrad: Table 2 parameter counts, the full sampling loop, hop handling, and a training step that learns."""

from __future__ import annotations

import math
from functools import cache

import pytest
import torch

from vocoder_energy.models import build_vocoder, check_inference_options
from vocoder_energy.models.wavegrad import NoiseLevelEncoding, WaveGrad, default_upsample_ratios

EXACT_COUNTS = {"S": 4_176_513, "M": 17_122_625}
TABLE2_L = 33_910_000
OUR_L = 33_922_497


@cache
def _model(size: str) -> WaveGrad:
    """One model per size, shared by the tests (4 sampling steps; the count does not depend on it)."""
    torch.manual_seed(0)
    return build_vocoder("wavegrad", size, inference_steps=4)


def _mel(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 80, frames, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ sizes
@pytest.mark.parametrize("size", ["S", "M"])
def test_parameter_count_matches_table2_exactly(size):
    assert _model(size).num_parameters() == EXACT_COUNTS[size]


def test_parameter_count_large_substitute_within_half_percent():
    count = _model("L").num_parameters()
    assert count == OUR_L
    assert abs(count - TABLE2_L) / TABLE2_L < 0.005


def test_parameter_count_does_not_depend_on_hop():
    torch.manual_seed(0)
    assert build_vocoder("wavegrad", "S", hop_length=512).num_parameters() == EXACT_COUNTS["S"]


# ------------------------------------------------------------------ generation
@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_generate_shape_finite_and_clamped(size):
    model = _model(size)
    frames = 3
    audio = model.generate(_mel(2, frames), seed=1)
    assert audio.shape == (2, frames * 256)
    assert torch.isfinite(audio).all()
    assert audio.abs().max() <= 1.0


def test_generate_is_reproducible_with_a_seed():
    model = _model("S")
    mel = _mel(1, 2)
    first, again, other = model.generate(mel, seed=3), model.generate(mel, seed=3), model.generate(mel, seed=4)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def _record_calls(model: WaveGrad, mel: torch.Tensor) -> list[torch.Tensor]:
    levels: list[torch.Tensor] = []
    handle = model.generator.register_forward_hook(lambda _m, args, _out: levels.append(args[2].clone()))
    try:
        model.generate(mel, seed=0)
    finally:
        handle.remove()
    return levels


def test_sampling_runs_every_step_at_the_schedule_noise_levels():
    torch.manual_seed(0)
    model = build_vocoder("wavegrad", "S")  # the default: 50 steps, betas linspace(1e-6, 1e-2)
    assert model.inference_steps == 50
    levels = _record_calls(model, _mel(1, 1))
    assert len(levels) == 50
    assert all(level.dtype == torch.float64 for level in levels)  # not rounded to float32 on the way
    betas = torch.linspace(1e-6, 1e-2, 50, dtype=torch.float64)
    expected = torch.cumprod(1 - betas, 0).sqrt().flip(0)  # sqrt(alpha_bar_n), n = N .. 1
    seen = torch.stack([level[0] for level in levels])
    torch.testing.assert_close(seen, expected, rtol=1e-14, atol=0)


def test_explicit_inference_schedule_sets_the_step_count():
    torch.manual_seed(0)
    model = build_vocoder("wavegrad", "S", inference_noise_schedule=[1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5])
    assert model.inference_steps == 6
    assert len(_record_calls(model, _mel(1, 1))) == 6


def test_hop_512_gives_frames_times_512_samples():
    torch.manual_seed(0)
    model = build_vocoder("wavegrad", "S", hop_length=512, inference_steps=2)
    assert model.upsample_ratios == [4, 4, 4, 4, 2]
    frames = 3
    audio = model.generate(_mel(1, frames), seed=0)
    assert audio.shape == (1, frames * 512)
    assert torch.isfinite(audio).all()


def test_default_ratios_for_both_hops_and_depth_doubling():
    assert default_upsample_ratios(256, 5) == [4, 4, 4, 2, 2]
    assert default_upsample_ratios(512, 5) == [4, 4, 4, 4, 2]
    assert default_upsample_ratios(256, 5, 2) == [4, 1, 4, 1, 4, 1, 2, 1, 2, 1]
    assert default_upsample_ratios(512, 5, 2) == [4, 1, 4, 1, 4, 1, 4, 1, 2, 1]
    assert _model("L").upsample_ratios == [4, 1, 4, 1, 4, 1, 2, 1, 2, 1]


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "overrides",
    [
        dict(upsample_ratios=[4, 4, 4, 4, 2]),  # 512 != hop 256
        dict(hop_length=512, upsample_ratios=[4, 4, 4, 2, 2]),  # 256 != hop 512
        dict(hop_length=300),  # no ratios derivable
        dict(upsample_ratios=[4, 4, 4, 4]),  # one ratio per UBlock
    ],
)
def test_bad_hop_or_ratios_raise(overrides):
    with pytest.raises(ValueError):
        build_vocoder("wavegrad", "S", **overrides)


def test_training_rejects_audio_not_matching_mel():
    model = _model("S")
    with pytest.raises(ValueError):
        model.diffusion_loss(torch.zeros(1, 500), _mel(1, 2))


# ------------------------------------------------------------------ training
TINY = dict(
    up_channels=[80, 32, 32, 32, 16, 16, 16, 1],
    down_channels=[1, 8, 16, 16, 16, 32],
)


def _tone_batch(frames: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.arange(frames * 256) / 16000
    audio = torch.stack([0.5 * torch.sin(2 * math.pi * 220 * t), 0.3 * torch.sin(2 * math.pi * 330 * t)])
    return audio, _mel(2, frames)


def _loss_at_seed(model: WaveGrad, audio: torch.Tensor, mel: torch.Tensor, seed: int = 0) -> float:
    """The diffusion loss with the noise level and the noise drawn from a fixed seed."""
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        return model.diffusion_loss(audio, mel).item()


def test_training_step_uses_adam_and_clips_the_gradient_norm():
    torch.manual_seed(0)
    model = build_vocoder("wavegrad", "S", **TINY)
    model.setup_training()
    (optimizer,) = model.optimizers
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.param_groups[0]["lr"] == 1e-3
    losses = model.training_step(*_tone_batch())
    assert isinstance(losses["loss"], float) and math.isfinite(losses["loss"])
    assert losses["grad_norm"] > 1.0  # the raw norm at initialisation, so the clip below is exercised
    clipped = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.generator.parameters()]))
    assert clipped <= 1.0 + 1e-4


def test_training_noise_levels_are_continuous_within_the_schedule():
    torch.manual_seed(0)
    model = build_vocoder("wavegrad", "S", **TINY)
    levels: list[torch.Tensor] = []
    model.generator.register_forward_hook(lambda _m, args, _out: levels.append(args[2].clone()))
    with torch.no_grad():
        model.diffusion_loss(torch.zeros(64, 256), _mel(64, 1))
    (level,) = levels
    alpha_bars = torch.cumprod(1 - torch.linspace(1e-6, 1e-2, 50, dtype=torch.float64), 0)
    assert level.shape == (64,)
    assert level.min() >= alpha_bars[-1].sqrt() - 1e-6 and level.max() <= 1.0
    schedule_points = set(torch.cat([torch.ones(1), alpha_bars.sqrt()]).float().tolist())
    off_schedule = set(level.tolist()) - schedule_points  # drawn between points, not on them
    assert len(off_schedule) >= 56


def test_training_reduces_the_loss_on_a_fixed_batch():
    """K optimisation steps on one batch, each at the same noise draws, lower the loss at those draws."""
    torch.manual_seed(0)
    model = build_vocoder("wavegrad", "S", learning_rate=1e-4, **TINY)  # lr 1e-3 makes the first steps jump
    model.setup_training()
    model.train()
    audio, mel = _tone_batch()
    before = _loss_at_seed(model, audio, mel)
    for _ in range(10):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model.training_step(audio, mel)
    after = _loss_at_seed(model, audio, mel)
    assert after < 0.9 * before, (before, after)


# ------------------------------------------------------------------ the authors' network and sampler
def test_leaky_relu_slope_is_the_authors_by_default_and_the_wavegrad_papers_on_request():
    def slopes(model):
        return {m.slope for m in model.generator.modules() if hasattr(m, "slope")}

    torch.manual_seed(0)
    assert slopes(build_vocoder("wavegrad", "S", **TINY)) == {0.01}
    assert slopes(build_vocoder("wavegrad", "S", leaky_relu_slope=0.2, **TINY)) == {0.2}
    # and it is the slope actually applied: a DBlock on a negative input
    dblock = build_vocoder("wavegrad", "S", **TINY).generator.dblocks[1]  # 16 -> 16 channels
    with torch.no_grad():
        for conv in dblock.convs:
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[:, :, 1] = torch.eye(conv.out_channels, conv.in_channels)  # centre tap = identity
        dblock.residual.weight.zero_()
        dblock.residual.bias.zero_()
        out = dblock(-torch.ones(1, dblock.convs[0].in_channels, 8))
    # three activations, slope 0.01 each (0.2 would give -0.008)
    torch.testing.assert_close(out, torch.full_like(out, -(0.01**3)), rtol=1e-5, atol=0)


def test_noise_encoding_frequencies_pinned():
    authors = NoiseLevelEncoding(8).frequencies()
    paper = NoiseLevelEncoding(8, frequencies="wavegrad_paper").frequencies()
    assert authors.dtype == paper.dtype == torch.float64
    torch.testing.assert_close(authors, torch.tensor([1.0, 0.046415888336127774, 0.002154434690031882, 1e-4]).double())
    torch.testing.assert_close(paper, torch.tensor([1.0, 0.1, 0.01, 0.001]).double())
    level = torch.tensor([0.5], dtype=torch.float64)
    encoding = NoiseLevelEncoding(8)(level)[0, :, 0]
    expected = [math.sin(2500 * f) for f in authors.tolist()] + [math.cos(2500 * f) for f in authors.tolist()]
    torch.testing.assert_close(encoding, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="noise_encoding"):
        NoiseLevelEncoding(8, frequencies="transformer")


def test_noise_encoding_is_computed_in_float64():
    """At the last sampling step sqrt(alpha_bar) ~ 0.88; float32 rounding of it moves the x5000 phase visibly."""
    alpha_bar = torch.cumprod(1 - torch.linspace(1e-6, 1e-2, 50, dtype=torch.float64), 0)[-1]
    level = alpha_bar.sqrt().reshape(1)
    encoding = NoiseLevelEncoding(64)
    exact = encoding(level)
    rounded = encoding(level.float())  # what a float32 level gives
    assert exact.dtype == torch.float64
    angles = 5000 * level[0] * encoding.frequencies()
    torch.testing.assert_close(exact[0, :32, 0], torch.sin(angles), rtol=0, atol=1e-12)
    assert (exact - rounded).abs().max() > 1e-5


def test_authors_sampler_follows_its_formula_step_by_step():
    """Two steps with a stand-in network eps = 0.3 y, against the formula written out by hand."""

    class Stand(torch.nn.Module):
        def forward(self, y, mel, level):
            return 0.3 * y

    betas = [0.1, 0.3]
    model = build_vocoder("wavegrad", "S", inference_noise_schedule=betas, sampler="authors", **TINY)
    model.generator = Stand()
    mel = _mel(1, 2)
    out = model.generate(mel, seed=5)
    torch.manual_seed(5)
    y2 = torch.randn(1, 512)
    z = torch.randn(1, 512)
    ab1, ab2 = 1 - betas[0], (1 - betas[0]) * (1 - betas[1])
    clean = (y2 / math.sqrt(ab2) - math.sqrt(1 - ab2) * 0.3 * y2).clamp(-1, 1)
    y1 = math.sqrt(ab1) * betas[1] / (1 - ab2) * clean + math.sqrt(ab2) * (1 - ab1) / (1 - ab2) * y2
    y1 = y1 + math.sqrt(betas[1] * (1 - ab1) / (1 - ab2)) * z
    expected = (y1 / math.sqrt(ab1) - math.sqrt(1 - ab1) * 0.3 * y1).clamp(-1, 1)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    model.sampler = "algorithm2"
    assert not torch.allclose(model.generate(mel, seed=5), out, atol=1e-3)


def test_sampler_is_an_inference_option_and_checked():
    check_inference_options("wavegrad", {"sampler": "authors"})
    with pytest.raises(ValueError, match="sampler"):
        build_vocoder("wavegrad", "S", sampler="ddim", **TINY)
