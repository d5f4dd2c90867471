"""MelGAN: Table 2 parameter counts, the inference contract, a training step that learns, hop checks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from vocoder_energy.data.audio import mel_spectrogram
from vocoder_energy.models import build_vocoder
from vocoder_energy.models.melgan import MelGAN

EXPECTED_PARAMETERS = {"S": 1_030_786, "M": 4_266_050, "L": 18_214_658}


def _weight_normed(module: torch.nn.Module) -> int:
    return sum(parametrize.is_parametrized(sub, "weight") for sub in module.modules())


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_parameter_count_matches_table_2_before_and_after_generate(size):
    torch.manual_seed(0)
    model = build_vocoder("melgan", size)
    assert model.num_parameters() == EXPECTED_PARAMETERS[size]
    model.generate(torch.rand(1, 80, 4))
    assert model.num_parameters() == EXPECTED_PARAMETERS[size]
    # Weight norm really was folded: the live generator now has fewer tensors' worth of parameters.
    assert sum(p.numel() for p in model.generator.parameters()) < EXPECTED_PARAMETERS[size]


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_generate_shape_range_and_weight_norm_removed(size):
    torch.manual_seed(0)
    model = build_vocoder("melgan", size)
    assert _weight_normed(model.generator) > 0
    mel = torch.rand(2, 80, 5)
    audio = model.generate(mel)
    assert audio.shape == (2, 5 * 256)
    assert torch.isfinite(audio).all()
    assert audio.abs().max() <= 1.0
    assert _weight_normed(model.generator) == 0
    assert not hasattr(model, "discriminator")  # inference never builds training-only modules
    # A second call (already prepared) gives the same audio.
    assert torch.equal(model.generate(mel), audio)


def _log_mel(audio: torch.Tensor) -> torch.Tensor:
    return torch.log(torch.clamp(mel_spectrogram(audio), min=1e-5))


def test_training_steps_bring_generated_mel_closer_to_target():
    frames, hop = 8, 256
    samples = frames * hop
    noise = torch.Generator().manual_seed(123)
    t = torch.arange(samples) / 16000
    envelope = 0.5 + 0.4 * torch.sin(2 * math.pi * 4 * t)
    audio = torch.stack(
        [0.3 * envelope * torch.randn(samples, generator=noise), 0.15 * torch.randn(samples, generator=noise)]
    )
    mel = torch.log1p(mel_spectrogram(audio))
    target = _log_mel(audio)

    torch.manual_seed(0)
    # The S preset; only the learning rate is raised (5e-4 instead of 1e-4) so that a few steps show progress.
    model = build_vocoder("melgan", "S", learning_rate=5e-4)
    model.setup_training()
    assert [type(opt) for opt in model.optimizers] == [torch.optim.Adam, torch.optim.Adam]

    def distance() -> float:
        with torch.no_grad():
            return F.l1_loss(_log_mel(model.generator(mel).squeeze(1)), target).item()

    before = distance()
    for _ in range(6):
        losses = model.training_step(audio, mel)
    after = distance()

    assert set(losses) == {"loss_d", "loss_g", "loss_fm", "loss_adv"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in losses.values())
    assert losses["loss_g"] == pytest.approx(losses["loss_adv"] + 10.0 * losses["loss_fm"], rel=1e-4, abs=1e-4)
    assert after < before - 1.0, (before, after)


def test_ratios_that_do_not_multiply_to_hop_raise():
    with pytest.raises(ValueError, match="hop_length"):
        build_vocoder("melgan", "S", hop_length=128)
    with pytest.raises(ValueError, match="hop_length"):
        MelGAN(ngf=16, n_residual_layers=2, disc_ndf=16, ratios=[8, 8, 2])


@pytest.mark.parametrize("ratios, hop", [([8, 8, 4], 256), ([5, 4, 4, 3], 240)])
def test_other_ratios_give_frames_times_hop(ratios, hop):
    torch.manual_seed(0)
    model = build_vocoder("melgan", "S", ngf=4, n_residual_layers=1, ratios=ratios, hop_length=hop)
    assert model.generate(torch.rand(1, 80, 4)).shape == (1, 4 * hop)
