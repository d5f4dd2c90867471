import io
import math

import pytest
import torch
import torch.nn.functional as F

from vocoder_energy.models import build_vocoder
from vocoder_energy.models.base import count_without_weight_norm
from vocoder_energy.models.bigvgan import (
    Activation1d,
    AMPBlock1,
    BigVGAN,
    Snake,
    SnakeBeta,
    _filter_buffer,
    cqt_octaves,
    kaiser_sinc_filter,
)
from vocoder_energy.testing import check_vocoder

# Generator parameters with weight norm (g and v) / after it is folded away. S is the published base
# generator (bigvgan_base_22khz_80band: 13,953,474 / 13,943,361) less its conv_post bias (v2 end); L is
# bigvgan_v2_22khz_80band_256x exactly (112,231,249 / 112,199,472).
COUNTS = {"S": (13_953_473, 13_943_360), "M": (28_302_025, 28_286_136), "L": (112_231_249, 112_199_472)}
# The anti-aliasing filter of the authors' checkpoints (float32), as read from them.
PUBLISHED_FILTER = [
    0.00202896469,
    0.00938946567,
    -0.0255434588,
    -0.0576573834,
    0.128572583,
    0.443209797,
    0.443209797,
    0.128572583,
    -0.0576573834,
    -0.0255434588,
    0.00938946567,
    0.00202896469,
]
TINY = dict(upsample_initial_channel=32)


def layer_arithmetic(u: int, rates: list[int], kernels: list[int], n_mels: int = 80) -> tuple[int, int]:
    """The parameter count written out layer by layer: (with weight norm, without)."""
    wn = plain = 0

    def conv(c_in, c_out, k, bias=True):  # weight norm's g: one per output channel (dim 0)
        nonlocal wn, plain
        plain += c_in * c_out * k + (c_out if bias else 0)
        wn += c_in * c_out * k + c_out + (c_out if bias else 0)

    conv(n_mels, u, 7)
    channels = u
    for kernel in kernels:
        # ConvTranspose1d weight is (c_in, c_out, k): weight norm's g has c_in entries
        c_out = channels // 2
        wn += channels * c_out * kernel + channels + c_out
        plain += channels * c_out * kernel + c_out
        channels = c_out
        for k in (3, 7, 11):
            for _ in range(6):
                conv(channels, channels, k)
            wn += 6 * 2 * channels  # SnakeBeta alpha, beta of the six activations
            plain += 6 * 2 * channels
    wn += 2 * channels
    plain += 2 * channels
    conv(channels, 1, 7, bias=False)
    return wn, plain


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_parameter_counts_match_the_layer_arithmetic_and_the_published_ones(size):
    with torch.device("meta"):
        model = build_vocoder("bigvgan", size)
    preset = BigVGAN.presets[size]
    expected = layer_arithmetic(
        preset["upsample_initial_channel"], preset["upsample_rates"], preset["upsample_kernel_sizes"]
    )
    assert (model.num_parameters(), count_without_weight_norm(model.generator)) == COUNTS[size] == expected
    assert math.prod(preset["upsample_rates"]) == 256


def test_published_key_list_after_the_weight_norm_renaming():
    """The authors' state-dict keys (reference fact sheet, section 8.3) in their order, for any width."""
    u, rates = 64, [8, 8, 2, 2]
    gen = build_vocoder("bigvgan", "S", upsample_initial_channel=u).generator
    activation = ["act.alpha", "act.beta", "upsample.filter", "downsample.lowpass.filter"]
    published = [f"conv_pre.{n}" for n in ("bias", "weight_g", "weight_v")]
    published += [f"ups.{i}.0.{n}" for i in range(len(rates)) for n in ("bias", "weight_g", "weight_v")]
    for j in range(3 * len(rates)):
        for convs in ("convs1", "convs2"):
            published += [f"resblocks.{j}.{convs}.{n}.{p}" for n in range(3) for p in ("bias", "weight_g", "weight_v")]
        published += [f"resblocks.{j}.activations.{a}.{p}" for a in range(6) for p in activation]
    published += [f"activation_post.{p}" for p in activation] + ["conv_post.weight_g", "conv_post.weight_v"]
    renamed = [
        k.replace("weight_g", "parametrizations.weight.original0").replace(
            "weight_v", "parametrizations.weight.original1"
        )
        for k in published
    ]
    state = gen.state_dict()
    assert list(state) == renamed and len(state) == 525
    channels = [u // 2**i for i in range(len(rates) + 1)]
    assert state["ups.1.0.parametrizations.weight.original1"].shape == (channels[1], channels[2], 16)
    assert state["ups.1.0.parametrizations.weight.original0"].shape == (channels[1], 1, 1)
    assert state["resblocks.5.convs2.2.parametrizations.weight.original1"].shape == (channels[2], channels[2], 11)
    assert state["activation_post.upsample.filter"].shape == (1, 1, 12)


def test_the_anti_alias_filter_is_the_published_one_and_a_low_pass():
    taps = torch.tensor(kaiser_sinc_filter(0.25, 0.3, 12), dtype=torch.float64)
    assert torch.allclose(taps, torch.tensor(PUBLISHED_FILTER, dtype=torch.float64), rtol=0, atol=1e-8)
    # Computed in float32 as the authors': the published taps to the bit on this machine; another CPU's
    # vectorised float32 kernels may move a tap by an ulp.
    buffer, published = _filter_buffer(2, 12).flatten(), torch.tensor(PUBLISHED_FILTER, dtype=torch.float32)
    assert ((buffer - published).abs() <= torch.finfo(torch.float32).eps * published.abs()).all()
    assert taps.sum().item() == pytest.approx(1.0, abs=1e-7) and torch.equal(taps, taps.flip(0))
    response = torch.fft.rfft(taps, n=4096).abs()
    frequency = torch.linspace(0, 0.5, response.numel(), dtype=torch.float64)  # cycles per sample
    assert response[0].item() == pytest.approx(1.0, abs=1e-6)
    assert response[frequency <= 0.1].min() > 0.97  # pass band
    assert response[frequency.sub(0.25).abs() < 1e-3].mean().item() == pytest.approx(0.5, abs=0.06)  # cutoff
    assert response[frequency >= 0.45].max() < 0.02  # stop band (near Nyquist)


def test_snake_and_snakebeta_by_hand():
    x = torch.tensor([[[math.pi / 4, -1.0, 0.0]]])
    snake = Snake(1, logscale=True)
    with torch.no_grad():
        snake.alpha.fill_(math.log(2.0))  # a = 2: x + sin^2(2x) / 2
    expected = [math.pi / 4 + 0.5, -1.0 + math.sin(-2.0) ** 2 / 2, 0.0]
    assert snake(x).flatten().tolist() == pytest.approx(expected, rel=1e-6)
    beta = SnakeBeta(1, logscale=True)
    assert beta.alpha.item() == 0 and beta.beta.item() == 0  # log-scale parameters start at a = b = 1
    with torch.no_grad():
        beta.alpha.fill_(math.log(2.0))
        beta.beta.fill_(math.log(4.0))  # x + sin^2(2x) / 4
    assert beta(x).flatten().tolist() == pytest.approx(
        [math.pi / 4 + 0.25, -1.0 + math.sin(-2.0) ** 2 / 4, 0.0], rel=1e-6
    )
    linear = SnakeBeta(1, logscale=False)
    assert linear.alpha.item() == 1 and linear.beta.item() == 1  # x + sin^2(x)
    assert linear(x).flatten()[0].item() == pytest.approx(math.pi / 4 + 0.5, rel=1e-6)


def test_activation1d_keeps_length_passes_low_frequencies_and_cuts_aliases():
    act = Activation1d(torch.nn.Identity())
    n = torch.arange(512, dtype=torch.float32)
    low, high = torch.sin(2 * math.pi * 0.02 * n), torch.sin(2 * math.pi * 0.48 * n)
    out = act(torch.stack([low, high]).view(1, 2, -1))
    assert out.shape == (1, 2, 512)
    middle = slice(32, -32)
    assert (out[0, 0, middle] - low[middle]).abs().max() < 1e-3  # no delay, no loss
    # both low-passes cut at the original Nyquist (about -3 dB each there): a 0.48-cycle tone halves
    assert 0.4 < out[0, 1, middle].abs().max() < 0.6
    assert act(torch.ones(1, 3, 40)).sub(1).abs().max() < 1e-6  # a constant passes unchanged, edges included

    class Square(torch.nn.Module):
        def forward(self, x):
            return x * x

    # squaring a 0.3-cycle tone makes 0.6 cycles, which aliases to 0.4 at the original rate; at twice
    # the rate it is filtered out before decimation (to about a quarter, with 12 taps)
    tone = torch.sin(2 * math.pi * 154 / 512 * n).view(1, 1, -1)
    window = torch.hann_window(512)

    def alias(y):
        return torch.fft.rfft((y - y.mean()) * window).abs()[512 - 2 * 154].item()

    assert alias(Activation1d(Square())(tone)[0, 0]) < 0.3 * alias((tone * tone)[0, 0])


def test_amp_block_applies_its_activations_in_the_published_order():
    torch.manual_seed(0)
    block = AMPBlock1(4, 3, [1, 3, 5], "snakebeta", True)
    with torch.no_grad():
        for i, act in enumerate(block.activations):
            act.act.alpha.fill_(0.3 * i - 0.5)
    x = torch.randn(1, 4, 50)
    expected = x
    for n in range(3):
        a1, a2 = block.activations[2 * n], block.activations[2 * n + 1]
        expected = block.convs2[n](a2(block.convs1[n](a1(expected)))) + expected
    assert torch.equal(block(x), expected)


def test_output_length_and_clamp():
    torch.manual_seed(0)
    model = build_vocoder("bigvgan", "S", **TINY)
    before_clamp = []
    model.generator.conv_post.register_forward_hook(lambda module, inputs, output: before_clamp.append(output))
    mel = torch.randn(2, 80, 3)
    model.generate(mel)
    with torch.no_grad():  # the output is linear in conv_post's weight (no bias): push its peak to 1.2
        model.generator.conv_post.weight.mul_(1.2 / before_clamp[0].abs().max())
    audio = model.generate(mel)
    assert audio.shape == (2, 3 * 256) and audio.dtype == torch.float32
    x = before_clamp[1].squeeze(1)
    assert (x.abs() > 1).any() and ((x.abs() < 0.9) & (x.abs() > 0.1)).any()
    assert torch.equal(audio, x.clamp(-1, 1))  # v2: clamped, not tanh
    full = build_vocoder("bigvgan", "M", upsample_initial_channel=128)
    assert full.generate(torch.rand(1, 80, 2)).shape == (1, 512)


def test_meets_the_contract():
    check_vocoder(BigVGAN, "S", frames=8, **TINY, cqtd_filters=8, cqtd_max_filters=16)


def test_options_and_errors_are_named():
    with pytest.raises(ValueError, match="multiply to 128"):
        build_vocoder("bigvgan", "S", upsample_rates=[8, 8, 2])
    with pytest.raises(ValueError, match="discriminator must be"):
        build_vocoder("bigvgan", "S", discriminator="msd")
    with pytest.raises(ValueError, match="resblock must be"):
        build_vocoder("bigvgan", "S", resblock="3")
    with pytest.raises(ValueError, match=r"9 CQT octaves .* at most 8"):
        build_vocoder("bigvgan", "S", cqtd_n_octaves=[9, 9, 9])
    assert [cqt_octaves(16000, b) for b in (24, 36, 48)] == [8, 8, 8]
    assert [cqt_octaves(22050, b) for b in (24, 36, 48)] == [9, 9, 9]  # the recipe's, at its rate
    v1 = build_vocoder("bigvgan", "S", resblock="2", activation="snake", use_tanh_at_final=True, use_bias_at_final=True)
    assert v1.generator.conv_post.bias is not None


def tiny_trainable(**overrides):
    torch.manual_seed(0)
    model = build_vocoder("bigvgan", "S", **TINY, cqtd_filters=8, cqtd_max_filters=16, **overrides)
    model.setup_training()
    return model


@pytest.mark.parametrize("discriminator", ["cqtd", "mrd"])
def test_a_training_step_changes_generator_and_discriminators(discriminator):
    model = tiny_trainable(discriminator=discriminator)
    audio, mel = 0.3 * torch.randn(2, 2048), torch.rand(2, 80, 8)
    generator = [p.detach().clone() for p in model.generator.parameters()]
    discriminators = {name: p.detach().clone() for name, p in model.discriminators.named_parameters()}
    losses = model.training_step(audio, mel)
    assert set(losses) == {"loss_d", "loss_g", "loss_mel", "loss_fm", "loss_adv"}
    assert all(math.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(generator, model.generator.parameters()))
    params = dict(model.discriminators.named_parameters())
    for group in ("mpd", discriminator):  # both discriminators learn
        assert any(not torch.equal(v, params[k]) for k, v in discriminators.items() if k.startswith(group))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert all(math.isfinite(v) for v in model.training_step(audio, mel).values())


def test_learning_rate_decays_every_step_and_resumes_from_the_optimizer_state():
    model = tiny_trainable()
    audio, mel = 0.3 * torch.randn(1, 2048), torch.rand(1, 80, 8)
    with pytest.raises(ValueError, match="longer than 1024 samples"):
        model.training_step(audio[:, :1024], mel[..., :4])
    for _ in range(2):
        model.training_step(audio, mel)
    for optimizer in model.optimizers:  # the rate of the last step taken (the second): 1e-4 x gamma
        assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4 * 0.9999996, rel=1e-12)
        assert optimizer.param_groups[0]["betas"] == (0.8, 0.99)
    buffer = io.BytesIO()
    torch.save([o.state_dict() for o in model.optimizers], buffer)
    buffer.seek(0)
    resumed = tiny_trainable()
    for optimizer, state in zip(resumed.optimizers, torch.load(buffer, weights_only=True)):
        optimizer.load_state_dict(state)
    resumed.training_step(audio, mel)
    for optimizer in resumed.optimizers:
        assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4 * 0.9999996**2, rel=1e-12)
        assert optimizer.param_groups[0]["lr_step"] == 3


# ------------------------------------------------------------------ NVIDIA's fused activation, optional
def test_the_nvidia_kernel_option_is_for_generation_and_names_what_is_missing(monkeypatch):
    import vocoder_energy.models.bigvgan as bigvgan
    from vocoder_energy.models import check_inference_options

    check_inference_options("bigvgan", {"activation_kernel": "nvidia"})  # generation-only: no retraining
    with pytest.raises(ValueError, match="activation_kernel must be 'torch' or 'nvidia'"):
        build_vocoder("bigvgan", "S", **TINY, activation_kernel="cuda")
    monkeypatch.setattr(bigvgan, "NVIDIA_KERNEL_MODULE", "no_such_checkout.activation1d")
    with pytest.raises(
        ValueError, match="needs NVIDIA's BigVGAN repository on PYTHONPATH.*use activation_kernel: torch"
    ):
        bigvgan.nvidia_fused_activation()
    # Off a GPU the option changes nothing: the kernel is not even loaded, the audio is the PyTorch path's.
    torch.manual_seed(0)
    plain = build_vocoder("bigvgan", "S", **TINY)
    nvidia = build_vocoder("bigvgan", "S", **TINY, activation_kernel="nvidia")
    nvidia.load_state_dict(plain.state_dict())
    mel = torch.rand(1, 80, 3)
    assert torch.equal(nvidia.generate(mel), plain.generate(mel))


def test_a_fused_activation_gets_the_filters_and_log_scale_parameters_of_each_activation(monkeypatch):
    """The fused function receives (x, upsampling filter, downsampling filter, log a, log b); one written
    here from those arguments alone must give the PyTorch path's audio exactly, with Snake and SnakeBeta."""
    import vocoder_energy.models.bigvgan as bigvgan

    calls = []

    def fused(x, up_filter, down_filter, log_alpha, log_beta):
        calls.append(1)
        a, b = torch.exp(log_alpha)[None, :, None], torch.exp(log_beta)[None, :, None]
        up = (
            2
            * F.conv_transpose1d(
                F.pad(x, (5, 5), mode="replicate"), up_filter.expand(x.shape[1], 1, -1), stride=2, groups=x.shape[1]
            )[..., 15:-15]
        )
        y = up + torch.sin(a * up) ** 2 / (b + 1e-9)
        return F.conv1d(
            F.pad(y, (5, 6), mode="replicate"), down_filter.expand(x.shape[1], 1, -1), stride=2, groups=x.shape[1]
        )

    for activation, logscale in (("snakebeta", True), ("snake", False)):
        torch.manual_seed(0)
        model = build_vocoder("bigvgan", "S", **TINY, activation=activation, snake_logscale=logscale)
        with torch.no_grad():  # parameters away from their initial values, so a wrong one shows
            for module in model.generator.modules():
                if isinstance(module, (bigvgan.Snake, bigvgan.SnakeBeta)):
                    for p in module.parameters():
                        p.copy_(torch.rand_like(p) + 0.5 if not logscale else torch.randn_like(p) * 0.3)
        mel = torch.rand(1, 80, 3)
        expected = model.generate(mel)
        model.use_fused_activation(lambda: fused)
        monkeypatch.setattr(bigvgan.Activation1d, "runs_fused", lambda self, x: self.fused is not None)
        calls.clear()
        got = model.generate(mel)
        monkeypatch.undo()
        assert len(calls) == sum(isinstance(m, bigvgan.Activation1d) for m in model.generator.modules())
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_a_fused_activation_that_computes_other_values_is_refused():
    model = build_vocoder("bigvgan", "S", **TINY)
    with pytest.raises(ValueError, match="computes other values than the PyTorch path"):
        model.use_fused_activation(lambda: lambda x, *args: x)  # no activation at all
    assert all(getattr(m, "fused", None) is None for m in model.generator.modules())


def test_spectral_pieces_take_half_precision_inputs_outside_autocast():
    """CUDA's autocast does not lift FFTs to float32 as the CPU's does: the resolution discriminator and
    the multi-scale mel loss must, in float32 (no half-precision FFT in MKL either)."""
    from vocoder_energy.models.bigvgan import ResolutionDiscriminator, multiscale_mel_loss

    torch.manual_seed(0)
    audio = 0.3 * torch.randn(2, 1, 4096)
    disc = ResolutionDiscriminator(512, 50, 240, channels=4)
    score, _ = disc(audio.bfloat16().float())
    half_score, _ = disc(audio.bfloat16())
    assert half_score.dtype == torch.float32 and torch.equal(half_score, score)
    estimate, target = audio[:, 0], 0.5 * audio[:, 0]
    exact = multiscale_mel_loss(estimate.bfloat16().float(), target.bfloat16().float(), 16000)
    assert multiscale_mel_loss(estimate.bfloat16(), target.bfloat16(), 16000).dtype == torch.float32
    assert torch.equal(multiscale_mel_loss(estimate.bfloat16(), target.bfloat16(), 16000), exact)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the loss ignores autocast: the float32 value
        assert torch.equal(multiscale_mel_loss(estimate.bfloat16().float(), target.bfloat16().float(), 16000), exact)
