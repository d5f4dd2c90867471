"""DiffWave: Table 2 parameter counts, the fast sampler, and a training step that learns."""

from __future__ import annotations

import math

import pytest
import torch

from vocoder_energy.models import build_vocoder
from vocoder_energy.models.blocks import linear_betas
from vocoder_energy.models.diffwave import FAST_INFERENCE_SCHEDULE, align_steps

EXPECTED_PARAMETERS = {"S": 1_227_651, "M": 2_619_971, "L": 6_885_315}
TINY = dict(residual_channels=8, residual_layers=4)
FRAMES = 4
HOP = 256


def _mel(batch: int = 2, frames: int = FRAMES, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 80, frames, generator=torch.Generator().manual_seed(seed))


def _count_denoiser_calls(model) -> list[int]:
    calls = [0]

    def hook(*_):
        calls[0] += 1

    model.generator.register_forward_hook(hook)
    return calls


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_parameter_count_matches_table_2(size):
    torch.manual_seed(0)
    model = build_vocoder("diffwave", size)
    count = model.num_parameters()
    assert count == EXPECTED_PARAMETERS[size]
    assert abs(count - EXPECTED_PARAMETERS[size]) / EXPECTED_PARAMETERS[size] < 0.005


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_generate_runs_the_fast_sampler(size):
    torch.manual_seed(0)
    model = build_vocoder("diffwave", size)
    # Non-zero output weights, so that the network's prediction actually enters the sampling loop.
    torch.nn.init.normal_(model.generator.output_projection.weight, std=0.1)
    calls = _count_denoiser_calls(model)
    audio = model.generate(_mel(), seed=0)
    assert audio.shape == (2, FRAMES * HOP)
    assert torch.isfinite(audio).all()
    assert audio.abs().max() <= 1.0
    assert calls[0] == len(FAST_INFERENCE_SCHEDULE) == 6


def test_generate_is_reproducible_with_a_seed():
    torch.manual_seed(0)
    model = build_vocoder("diffwave", "S")
    torch.nn.init.normal_(model.generator.output_projection.weight, std=0.1)
    mel = _mel()
    first = model.generate(mel, seed=0)
    again = model.generate(mel, seed=0)
    other = model.generate(mel, seed=1)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_full_schedule_calls_the_denoiser_once_per_training_step():
    torch.manual_seed(0)
    model = build_vocoder("diffwave", "S", fast_sampling=False, **TINY)
    calls = _count_denoiser_calls(model)
    audio = model.generate(_mel(batch=1), seed=0)
    assert calls[0] == 50
    assert audio.shape == (1, FRAMES * HOP)
    assert torch.isfinite(audio).all() and audio.abs().max() <= 1.0


def test_custom_inference_schedule_sets_the_number_of_steps():
    torch.manual_seed(0)
    model = build_vocoder("diffwave", "S", inference_noise_schedule=[1e-3, 0.05, 0.3], **TINY)
    calls = _count_denoiser_calls(model)
    model.generate(_mel(batch=1), seed=0)
    assert calls[0] == 3


def test_step_alignment():
    train = linear_betas(1e-4, 0.05, 50)
    assert train[0] == pytest.approx(1e-4) and train[-1] == pytest.approx(0.05)
    # The training schedule aligned to itself gives the integer steps.
    assert align_steps(train, train) == pytest.approx(list(range(50)))
    fast = align_steps(train, FAST_INFERENCE_SCHEDULE)
    assert len(fast) == 6
    assert fast[0] == pytest.approx(0.0)
    assert all(a < b for a, b in zip(fast, fast[1:]))
    assert fast[-1] < 49
    # Interpolation in sqrt(alpha-bar): each fractional step reproduces its alpha-bar's square root.
    train_cum = [math.prod(1 - b for b in train[: t + 1]) for t in range(50)]
    fast_cum = [math.prod(1 - b for b in FAST_INFERENCE_SCHEDULE[: s + 1]) for s in range(6)]
    for step, target in zip(fast, fast_cum):
        t = int(step)
        here, nxt = train_cum[t] ** 0.5, train_cum[min(t + 1, 49)] ** 0.5
        assert here + (nxt - here) * (step - t) == pytest.approx(target**0.5)
    with pytest.raises(ValueError, match="alpha-bar"):
        align_steps(train, [0.9, 0.9])


def test_step_embedding_interpolates_fractional_steps():
    model = build_vocoder("diffwave", "S", **TINY)
    embedding = model.generator.diffusion_embedding
    table = embedding.table
    assert table.shape == (50, 128)
    mid = embedding._lookup(torch.tensor([2.25]))
    assert torch.allclose(mid, table[2] + 0.25 * (table[3] - table[2]))
    assert torch.equal(embedding._lookup(torch.tensor([7])), table[7:8])
    assert embedding(torch.tensor([3.5, 49.0])).shape == (2, 512)


def test_hop_length_must_match_the_upsampler():
    with pytest.raises(ValueError, match="hop_length"):
        build_vocoder("diffwave", "S", hop_length=300)
    model = build_vocoder("diffwave", "S", hop_length=64, upsample_strides=[8, 8], **TINY)
    assert model.generate(_mel(batch=1), seed=0).shape == (1, FRAMES * 64)


def test_training_step_reduces_the_diffusion_loss():
    torch.manual_seed(0)
    model = build_vocoder("diffwave", "S", learning_rate=1e-3, **TINY)
    model.setup_training()
    model.train()
    t = torch.arange(FRAMES * HOP) / 16000
    audio = torch.stack([0.5 * torch.sin(2 * math.pi * 220 * t), 0.3 * torch.sin(2 * math.pi * 440 * t)])
    mel = _mel()

    def fixed_loss() -> float:
        # The same 16 (noise, step) draws every time, so that the comparison is not sampling noise.
        g = torch.Generator().manual_seed(123)
        losses = []
        with torch.no_grad():
            for _ in range(16):
                noise = torch.randn(audio.shape, generator=g)
                step = torch.randint(0, 50, (audio.shape[0],), generator=g)
                losses.append(model.diffusion_loss(audio, mel, noise, step).item())
        return sum(losses) / len(losses)

    before = fixed_loss()
    for _ in range(20):
        out = model.training_step(audio, mel)
        assert set(out) == {"loss"} and math.isfinite(out["loss"])
    after = fixed_loss()
    assert after < 0.98 * before, (before, after)
