"""WaveGlow: Table-2 parameter counts, generation, exact invertibility, log-determinants and NLL training."""

from __future__ import annotations

import pytest
import torch

from vocoder_energy.models import build_vocoder
from vocoder_energy.models.base import count_without_weight_norm
from vocoder_energy.models.waveglow import WaveGlow

TABLE_2 = {"S": 17_558_888, "M": 34_756_712, "L": 87_731_816}

# A small model with the paper's flow structure (12 flows, n_group 8, 2 early channels every 4 flows).
SMALL = dict(n_channels=16, n_layers=2)
# A tiny model whose whole Jacobian is cheap: 4 frames of hop 8, 4 mel bands.
TINY = dict(
    n_channels=8, n_layers=2, n_flows=4, n_group=4, n_early_every=2, n_early_size=2,
    n_mels=4, hop_length=8, upsample_kernel_size=16,
)  # fmt: skip


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _perturb_couplings(model: WaveGlow, std: float = 0.1) -> None:
    """Make every coupling non-trivial (its end convolution is zero-initialised)."""
    with torch.no_grad():
        for wn in model.generator.WN:
            wn.end.weight.normal_(0.0, std)
            wn.end.bias.normal_(0.0, std)


def _batch(model: WaveGlow, batch: int = 2, frames: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    mel = torch.randn(batch, model.n_mels, frames)
    audio = 0.3 * torch.randn(batch, frames * model.hop_length).clamp(-3, 3)
    return audio, mel


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_paper_size_counts_and_generation(size):
    model = build_vocoder("waveglow", size)
    assert model.family == "waveglow"
    assert model.num_parameters() == TABLE_2[size]
    # The count is taken without weight norm; the training form has g and v on top.
    assert sum(p.numel() for p in model.generator.parameters()) > TABLE_2[size]
    mel = torch.randn(2, 80, 4)
    audio = model.generate(mel, seed=0)
    assert audio.shape == (2, 4 * 256)
    assert torch.isfinite(audio).all()
    assert torch.equal(audio, model.generate(mel, seed=0))
    assert not torch.equal(audio, model.generate(mel, seed=1))
    # Same count after weight-norm removal, which now is the plain parameter count.
    assert model.num_parameters() == TABLE_2[size]
    assert sum(p.numel() for p in model.generator.parameters()) == TABLE_2[size]


def test_count_without_weight_norm_leaves_the_model_intact():
    model = build_vocoder("waveglow", "S", **SMALL)
    folded = count_without_weight_norm(model.generator)
    assert folded == count_without_weight_norm(model.generator)
    assert model.num_parameters() == folded
    model.prepare_inference()
    assert sum(p.numel() for p in model.generator.parameters()) == folded
    assert model.generate(torch.randn(1, 80, 2)).shape == (1, 512)


def test_structure_follows_the_official_model():
    gen = build_vocoder("waveglow", "S").generator
    assert len(gen.WN) == len(gen.convinv) == 12
    assert [c.weight.shape[0] for c in gen.convinv] == [8] * 4 + [6] * 4 + [4] * 4
    assert gen.n_remaining_channels == 4
    up = gen.upsample
    assert (up.in_channels, up.out_channels, up.kernel_size, up.stride) == (80, 80, (1024,), (256,))
    wn = gen.WN[0]
    assert wn.cond_layer.in_channels == 80 * 8 and wn.cond_layer.out_channels == 2 * 64 * 8
    assert [layer.dilation[0] for layer in wn.in_layers] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert wn.res_skip_layers[-1].out_channels == 64 and wn.res_skip_layers[0].out_channels == 128
    assert torch.count_nonzero(wn.end.weight) == 0
    for conv in gen.convinv:  # orthogonal with det +1
        eye = torch.eye(conv.weight.shape[0])
        assert torch.allclose(conv.weight @ conv.weight.T, eye, atol=1e-5)
        assert torch.det(conv.weight) > 0


def test_round_trip_is_exact_with_and_without_weight_norm():
    model = build_vocoder("waveglow", "S", **SMALL)
    _perturb_couplings(model)
    model.eval()
    audio, mel = _batch(model)
    with torch.no_grad():
        z, log_s, log_det_w = model.encode(audio, mel)
        assert z.shape == (2, 8, audio.shape[1] // 8)
        assert log_s.shape == log_det_w.shape == (2,)
        assert log_s.abs().min() > 1.0  # the couplings really scale
        assert (z - audio.unfold(1, 8, 8).permute(0, 2, 1)).abs().max() > 0.1
        assert torch.allclose(model.decode(z, mel), audio, atol=1e-4)

    model.prepare_inference()
    with torch.no_grad():
        z2, log_s2, _ = model.encode(audio, mel)
        assert torch.allclose(z2, z, atol=1e-4)
        assert torch.allclose(log_s2, log_s, rtol=1e-4, atol=1e-3)
        assert torch.allclose(model.decode(z2, mel), audio, atol=1e-4)
    with torch.inference_mode():  # the path of generate(), with the cached inverse weights
        assert torch.allclose(model.decode(z2, mel), audio, atol=1e-4)
        assert torch.allclose(model.decode(z2, mel), audio, atol=1e-4)


def test_log_determinant_matches_the_jacobian():
    model = build_vocoder("waveglow", "S", **TINY).double()
    _perturb_couplings(model, std=0.3)
    model.eval()
    audio, mel = _batch(model, batch=1, frames=4)
    audio, mel = audio.double(), mel.double()
    z, log_s, log_det_w = model.encode(audio, mel)
    jacobian = torch.autograd.functional.jacobian(lambda a: model.encode(a, mel)[0].flatten(), audio)
    expected = torch.linalg.slogdet(jacobian.reshape(z.numel(), audio.numel())).logabsdet
    assert torch.allclose(log_s + log_det_w, expected.reshape(1), atol=1e-8)


def test_generate_draws_gaussian_noise_with_sigma():
    # At initialisation every coupling is the identity and every W orthogonal, so audio ~ N(0, sigma^2).
    model = build_vocoder("waveglow", "S", sigma=0.5, **SMALL)
    audio = model.generate(torch.randn(2, 80, 8), seed=0)
    assert audio.shape == (2, 8 * 256)
    assert abs(audio.std().item() - 0.5) < 0.03


def test_nll_training_lowers_the_loss():
    model = build_vocoder("waveglow", "S", **SMALL)
    model.setup_training()
    assert len(model.optimizers) == 1 and isinstance(model.optimizers[0], torch.optim.Adam)
    assert model.optimizers[0].defaults["lr"] == 1e-4
    audio, mel = _batch(model, frames=4)
    with torch.no_grad():
        before = model.nll(audio, mel)[0].item()
    # Identity couplings and orthogonal W: the loss starts at mean(audio^2) / 2.
    assert before == pytest.approx(0.5 * audio.pow(2).mean().item(), rel=1e-4)
    steps = [model.training_step(audio, mel) for _ in range(10)]
    assert all(set(step) >= {"loss", "log_s", "log_det_w"} for step in steps)
    assert steps[0]["loss"] == pytest.approx(before, rel=1e-5)
    with torch.no_grad():
        after = model.nll(audio, mel)[0].item()
    assert after < before - 1e-3
    assert steps[-1]["loss"] < steps[0]["loss"]


def test_rejects_inconsistent_inputs():
    model = build_vocoder("waveglow", "S", **SMALL)
    audio, mel = _batch(model, frames=4)
    with pytest.raises(ValueError):
        model.encode(audio[:, :-4], mel)  # not a multiple of n_group
    with pytest.raises(ValueError):
        model.encode(torch.randn(2, 8 * 256), mel)  # more samples than 4 frames condition
    with pytest.raises(ValueError):
        build_vocoder("waveglow", "S", hop_length=100)
    with pytest.raises(ValueError):
        build_vocoder("waveglow", "S", not_a_hyperparameter=1)
