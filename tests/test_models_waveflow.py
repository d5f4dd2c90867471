"""WaveFlow: exact paper parameter counts, generation shapes, flow invertibility in both reverse modes,
the log-determinant against the Jacobian, and a training step that lowers the NLL."""

from __future__ import annotations

import pytest
import torch

from vocoder_energy.models import build_vocoder
from vocoder_energy.models.waveflow import WaveFlow, squeeze_audio, unsqueeze_audio

PAPER_COUNTS = {"S": 5_950_164, "M": 12_857_300, "L": 22_385_876}

# Small enough to run in a fraction of a second on a loaded CPU, deep enough to exercise caching
# (3x3 convolutions with two rows of history, width dilations 1..8) and an odd number of flows
# (height flips must still undo exactly).
TINY = dict(residual_channels=16, n_flows=3, n_layers=4)


def _perturb(model: WaveFlow, std: float = 0.05, seed: int = 0) -> WaveFlow:
    """Make the zero-initialised log_s/t projections non-zero so every coupling is non-trivial."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for flow in model.generator.flows:
            flow.proj.weight.copy_(torch.randn(flow.proj.weight.shape, generator=gen) * std)
            flow.proj.bias.copy_(torch.randn(flow.proj.bias.shape, generator=gen) * std)
    return model


def _batch(frames: int, batch: int = 1, n_mels: int = 80, hop: int = 256, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    mel = torch.randn(batch, n_mels, frames, generator=gen)
    t = torch.arange(frames * hop) / 16000
    audio = 0.5 * torch.sin(2 * torch.pi * 220 * t).expand(batch, -1) + 0.05 * torch.randn(
        batch, frames * hop, generator=gen
    )
    return audio.contiguous(), mel


def test_squeeze_is_column_major_and_invertible():
    audio = torch.arange(32.0).reshape(1, 32)
    x = squeeze_audio(audio, 4)
    assert x.shape == (1, 1, 4, 8)
    for j in range(4):
        for i in range(8):
            assert x[0, 0, j, i] == i * 4 + j  # height = adjacent samples (the autoregressive axis)
    assert torch.equal(unsqueeze_audio(x), audio)


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_parameter_count_and_generation(size):
    torch.manual_seed(0)
    model = build_vocoder("waveflow", size)
    assert model.num_parameters() == PAPER_COUNTS[size]
    mel = torch.randn(1, 80, 1)
    audio = model.generate(mel, seed=7)
    assert audio.shape == (1, 256)
    assert torch.isfinite(audio).all()
    assert model.num_parameters() == PAPER_COUNTS[size]  # frozen before weight norm was removed
    assert torch.equal(model.generate(mel, seed=7), audio)


def test_generation_with_nontrivial_flows_is_reproducible_and_shaped():
    torch.manual_seed(0)
    model = _perturb(build_vocoder("waveflow", "S", **TINY))
    mel = torch.randn(2, 80, 2)
    a = model.generate(mel, seed=3)
    assert a.shape == (2, 512) and torch.isfinite(a).all()
    assert torch.equal(model.generate(mel, seed=3), a)
    assert not torch.allclose(model.generate(mel, seed=4), a)


@pytest.mark.parametrize("reverse", ["cached", "naive"])
def test_round_trip(reverse):
    torch.manual_seed(0)
    model = _perturb(build_vocoder("waveflow", "S", **TINY))
    audio, mel = _batch(frames=2, batch=2)
    with torch.no_grad():
        latent, logdet = model.encode(audio, mel)
        assert latent.shape == audio.shape and logdet.shape == (2,)
        assert not torch.allclose(latent, audio, atol=1e-2)  # the flows really transform
        recon = model.decode(latent, mel, reverse=reverse)
    torch.testing.assert_close(recon, audio, atol=1e-4, rtol=0)


def test_cached_and_naive_reverse_give_the_same_audio():
    torch.manual_seed(0)
    cached = _perturb(build_vocoder("waveflow", "S", **TINY))
    naive = build_vocoder("waveflow", "S", reverse="naive", **TINY)
    naive.load_state_dict(cached.state_dict())
    mel = torch.randn(2, 80, 2)
    a = cached.generate(mel, seed=11)
    b = naive.generate(mel, seed=11)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    # the inverse also holds after weight norm was folded away
    with torch.no_grad():
        latent, _ = cached.encode(a, mel)
        torch.testing.assert_close(cached.decode(latent, mel, reverse="naive"), a, atol=1e-4, rtol=0)


def test_log_determinant_matches_jacobian():
    torch.manual_seed(0)
    model = WaveFlow(
        residual_channels=4, height=4, n_flows=3, n_layers=3, n_mels=4, hop_length=4, upsample_scales=[2, 2]
    )
    model = _perturb(model, std=0.2).double()
    mel = torch.randn(1, 4, 4, dtype=torch.float64)
    audio = torch.randn(1, 16, dtype=torch.float64) * 0.3
    _, logdet = model.encode(audio, mel)
    jac = torch.autograd.functional.jacobian(lambda a: model.encode(a.unsqueeze(0), mel)[0][0], audio[0])
    sign, logabs = torch.linalg.slogdet(jac)
    assert sign > 0
    torch.testing.assert_close(logdet[0], logabs, atol=1e-8, rtol=1e-8)


def test_unknown_reverse_mode_and_bad_hop():
    with pytest.raises(ValueError, match="reverse"):
        build_vocoder("waveflow", "S", reverse="fast", **TINY)
    model = build_vocoder("waveflow", "S", **TINY)
    with pytest.raises(ValueError, match="reverse"):
        model.decode(torch.zeros(1, 256), torch.zeros(1, 80, 1), reverse="fast")
    with pytest.raises(ValueError, match="hop_length"):
        build_vocoder("waveflow", "S", hop_length=300, **TINY)


def test_training_lowers_nll():
    torch.manual_seed(0)
    model = build_vocoder("waveflow", "S", residual_channels=16, n_flows=2, n_layers=4)
    model.setup_training()
    audio, mel = _batch(frames=4, batch=1, seed=1)
    with torch.no_grad():
        before = model.nll(audio, mel).item()
    losses = [model.training_step(audio, mel)["loss"] for _ in range(15)]
    with torch.no_grad():
        after = model.nll(audio, mel).item()
    assert all(isinstance(x, float) for x in losses)
    assert losses[0] == pytest.approx(before, rel=1e-5)
    assert losses[-1] < losses[0]
    assert after < before - 0.02, (before, after)  # about -0.044 nats per sample after 15 steps


# ------------------------------------------------------------------ the original network's layout
def _flow_and_input(height: int = 6, width: int = 5, seed: int = 0):
    """One flow of a tiny double-precision WaveFlow with non-zero log_s/t, an input and conditioning."""
    torch.manual_seed(seed)
    model = _perturb(
        WaveFlow(residual_channels=4, height=4, n_flows=1, n_layers=3, n_mels=3, hop_length=4, upsample_scales=[2, 2]),
        std=0.3,
    ).double()
    flow = model.generator.flows[0]
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(2, 1, height, width, generator=gen, dtype=torch.float64)
    cond = torch.randn(2, 3, height, width, generator=gen, dtype=torch.float64)
    return flow, x, cond


def test_row_zero_passes_through_and_row_i_depends_only_on_rows_above_and_its_condition_row():
    flow, x, cond = _flow_and_input()
    with torch.no_grad():
        z, _ = flow(x, cond)
        assert torch.equal(z[:, :, 0], x[:, :, 0])  # row 0 copied unchanged
        assert not torch.allclose(z[:, :, 1:], x[:, :, 1:])  # the other rows are transformed
        # Conditioning row 0 is never used (rows 1..H-1 are predicted from conditioning rows 1..H-1).
        cond0 = cond.clone()
        cond0[:, :, 0] += 5.0
        assert torch.equal(flow(x, cond0)[0], z)
        # Changing input row 2 leaves rows 0, 1 alone and changes row 2 and the rows below it.
        x2 = x.clone()
        x2[:, :, 2] += 1.0
        z2, _ = flow(x2, cond)
        assert torch.equal(z2[:, :, :2], z[:, :, :2])
        assert (z2[:, :, 3:] != z[:, :, 3:]).all(dim=-1).any()
        # Changing conditioning row 3 changes row 3 and nothing above it.
        cond3 = cond.clone()
        cond3[:, :, 3] += 1.0
        z3, _ = flow(x, cond3)
        assert torch.equal(z3[:, :, :3], z[:, :, :3]) and not torch.equal(z3[:, :, 3], z[:, :, 3])


def test_residual_sum_is_not_rescaled_and_residual_skip_is_one_fused_convolution():
    """A zeroed fused 1x1 conv makes a layer the identity: h comes back exactly (x sqrt(0.5) would not)."""
    flow, _, _ = _flow_and_input()
    layer = flow.layers[0]
    assert not hasattr(layer, "res") and not hasattr(layer, "skip")
    assert layer.res_skip.out_channels == 2 * layer.channels and layer.res_skip.in_channels == layer.channels
    with torch.no_grad():
        layer.res_skip.bias.zero_()
        layer.res_skip.parametrizations.weight.original0.zero_()  # weight-norm g = 0: weight = 0
        h = torch.randn(1, layer.channels, 3, 5, dtype=torch.float64)
        cond = torch.randn(1, 2 * layer.channels, 3, 5, dtype=torch.float64)
        out, skip = layer(h, cond)
    assert torch.equal(out, h) and torch.equal(skip, torch.zeros_like(skip))


def test_a_fresh_flow_is_the_identity_with_zero_log_determinant():
    torch.manual_seed(0)
    model = build_vocoder("waveflow", "S", **TINY)
    audio, mel = _batch(frames=1)
    with torch.no_grad():
        latent, logdet = model.encode(audio, mel)
    # zero-initialised projections: log_s = t = 0, and an odd number of height flips reverses each column
    assert torch.equal(logdet, torch.zeros(1))
    assert torch.equal(latent, unsqueeze_audio(squeeze_audio(audio, 8).flip(2)))
